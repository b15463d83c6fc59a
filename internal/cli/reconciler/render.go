package reconciler

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
)

// renderOutput is render's JSON (--output json).
type renderOutput struct {
	App      string                       `json:"app"`
	Revision string                       `json:"revision"`
	Type     reconcile.Type               `json:"type"`
	Objects  []*unstructured.Unstructured `json:"objects"`
	Hooks    []renderedHook               `json:"hooks,omitempty"`
}

type renderedHook struct {
	Events []string                   `json:"events"`
	Weight int                        `json:"weight"`
	Object *unstructured.Unstructured `json:"object"`
}

func newRenderCommand(env *clirun.Env) *cli.Command {
	o := &clusterOptions{}
	revision := ""
	return &cli.Command{
		Name:      "render",
		Usage:     "print what an app renders (YAML, or --output json), with the limits of a sync; no cluster needed",
		ArgsUsage: "APP",
		UsageText: "tagrelay-reconciler render --config apps.yaml web\n" +
			"tagrelay-reconciler render --revision 1a2b3c4d5e6f... --output json web",
		Description: "Like `flux build kustomization` or `argocd app manifests`: fetch the app's revision, render it (plain, Kustomize, Helm\n" +
			"with Helm's default capabilities) and print the objects, each after a `# Source:` line. Helm hooks follow, marked as hooks.\n" +
			"The render limits apply: alias bombs, remote bases from hosts not in allowedHosts, a render past --render-timeout,\n" +
			"output past --max-render-bytes or --max-objects fail it (exit 2; a refused remote exits 4).",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "revision", Usage: "render `REV` (branch, tag or commit) instead of the app's revision", EnvVars: []string{"TAGRELAY_REVISION"}, Destination: &revision},
		}, configFlags(o)...), clirun.CommonFlags(&o.common)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return clirun.Usagef("pass the app's name: "+c.Command.HelpName+" [flags] APP", "expected one APP argument, got %d", c.NArg())
			}
			cfg, log, err := o.loadConfig(env)
			if err != nil {
				return err
			}
			app, err := cfg.App(c.Args().First())
			if err != nil {
				return err
			}
			if revision != "" {
				app.Revision = revision
			}
			opts, err := o.options(log)
			if err != nil {
				return err
			}
			res, err := reconcile.Render(c.Context, app, opts)
			if err != nil {
				return err
			}
			out, text, err := renderedText(app.Name, res)
			if err != nil {
				return err
			}
			return env.Emit(&o.common, out, text, nil)
		},
	}
}

// renderedText is the YAML stream of a render, like `helm template`: each object after a
// "# Source:" line, hooks last.
func renderedText(app string, res *reconcile.Rendered) (renderOutput, string, error) {
	out := renderOutput{App: app, Revision: res.Revision, Type: res.Type, Objects: []*unstructured.Unstructured{}}
	var b strings.Builder
	for _, o := range res.Objects {
		out.Objects = append(out.Objects, o.Object)
		if err := writeDoc(&b, "# Source: "+o.Source, o.Object); err != nil {
			return out, "", err
		}
	}
	for _, h := range res.Hooks {
		out.Hooks = append(out.Hooks, renderedHook{Events: h.Events, Weight: h.Weight, Object: h.Object.Object})
		comment := fmt.Sprintf("# Source: %s\n# Helm hook %s (weight %d): run by a sync around the apply", h.Source, strings.Join(h.Events, ","), h.Weight)
		if err := writeDoc(&b, comment, h.Object.Object); err != nil {
			return out, "", err
		}
	}
	return out, b.String(), nil
}

func writeDoc(b *strings.Builder, comment string, u *unstructured.Unstructured) error {
	y, err := yaml.Marshal(u.Object)
	if err != nil {
		return fmt.Errorf("encoding %s/%s: %w", u.GetKind(), u.GetName(), err)
	}
	fmt.Fprintf(b, "---\n%s\n%s", comment, y)
	return nil
}
