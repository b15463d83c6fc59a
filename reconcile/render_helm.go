package reconcile

import (
	"context"
	"fmt"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// capabilities are what Helm templates may ask of the cluster (.Capabilities).
type capabilities struct {
	kubeVersion *chartutil.KubeVersion
	apiVersions chartutil.VersionSet
}

// renderHelm renders the chart at the app's path client-side, like `helm template`: the
// release is named after the app, goes to its namespace, CRDs (crds/) are included, hooks are
// not (there is no release to hook into), and the values files are merged in order.
func renderHelm(ctx context.Context, app App, src *Source, caps func() capabilities) ([]*resource, error) {
	prefix := ""
	if app.Path != "" {
		prefix = app.Path + "/"
	}
	var files []*loader.BufferedFile
	for name, data := range src.Files {
		if rel, ok := strings.CutPrefix(name, prefix); ok {
			files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		}
	}
	chart, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	vals, err := helmValues(app, src)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.DryRunOption, install.ClientOnly = true, "client", true
	install.Replace, install.IncludeCRDs, install.DisableHooks = true, true, true
	install.ReleaseName, install.Namespace = app.Name, app.Namespace
	c := caps()
	install.KubeVersion, install.APIVersions = c.kubeVersion, c.apiVersions
	rel, err := install.RunWithContext(ctx, chart, vals)
	if err != nil {
		return nil, err
	}
	return decode("helm chart "+chart.Name(), []byte(rel.Manifest))
}

// helmValues merges the app's values files, later files winning (helm -f a.yaml -f b.yaml).
func helmValues(app App, src *Source) (map[string]any, error) {
	vals := map[string]any{}
	for i := len(app.ValuesFiles) - 1; i >= 0; i-- {
		name := path.Join(app.Path, app.ValuesFiles[i])
		data, ok := src.Files[name]
		if !ok {
			return nil, fmt.Errorf("values file %s not found", name)
		}
		v, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", name, err)
		}
		vals = chartutil.MergeTables(vals, v)
	}
	return vals, nil
}
