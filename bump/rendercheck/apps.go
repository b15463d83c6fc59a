package rendercheck

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// App is the part of a reconciler app (its apps file, tagrelay-reconciler --config) that says
// how it renders. The file is read without the reconciler's package, so bump links no cluster
// code: fields other than these are ignored here (the reconciler validates them).
type App struct {
	Name         string   `json:"name"`
	Path         string   `json:"path"`
	Type         string   `json:"type"`
	ValuesFiles  []string `json:"valuesFiles"`
	Set          []string `json:"set"`
	Namespace    string   `json:"namespace"`
	AllowedHosts []string `json:"allowedHosts"`
}

// AppSettings returns the render settings and the allowed remote hosts of the app name in an
// apps file.
func AppSettings(data []byte, name string) (bump.RenderSettings, render.Limits, error) {
	if render.AliasNodes(data, render.DefaultMaxAliasNodes) > render.DefaultMaxAliasNodes {
		return bump.RenderSettings{}, render.Limits{}, errdefs.Invalid(fmt.Errorf("the apps file's YAML aliases expand past %d nodes", render.DefaultMaxAliasNodes))
	}
	var f struct {
		Apps []App `json:"apps"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return bump.RenderSettings{}, render.Limits{}, errdefs.Invalid(fmt.Errorf("reading the apps file: %w", err))
	}
	var names []string
	for _, a := range f.Apps {
		if a.Name == name {
			return bump.RenderSettings{Path: a.Path, Type: a.Type, ValuesFiles: a.ValuesFiles, Set: a.Set, Name: a.Name, Namespace: a.Namespace},
				render.Limits{AllowedHosts: a.AllowedHosts}, nil
		}
		names = append(names, a.Name)
	}
	return bump.RenderSettings{}, render.Limits{}, fmt.Errorf("%w %q in the apps file (it has: %s)", ErrNoApp, name, strings.Join(names, ", "))
}
