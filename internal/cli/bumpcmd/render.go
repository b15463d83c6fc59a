package bumpcmd

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// renderFlags are bump's render check: after the edit, in memory and before anything is
// written, the infra repository is rendered with the reconciler's render code and the new tag
// must run in it.
type renderOptions struct {
	dir     string
	values  cli.StringSlice
	typ     string
	sets    cli.StringSlice
	app     string
	apps    string
	explain bool
}

func (r *renderOptions) flags() []cli.Flag {
	const cat = "Render check"
	return []cli.Flag{
		&cli.StringFlag{Name: "render", Usage: "render `DIR` (a chart, an overlay, manifests) with the edit before writing anything, and refuse the bump (exit 4) unless the new tag runs in a container of it; with --repo, DIR is inside the repository", EnvVars: []string{"TAGRELAY_RENDER"}, Destination: &r.dir, Category: cat},
		&cli.StringSliceFlag{Name: "values", Usage: "Helm values `FILE` of the render, relative to --render, later ones winning (repeatable)", EnvVars: []string{"TAGRELAY_VALUES"}, Destination: &r.values, Category: cat},
		&cli.StringFlag{Name: "render-type", Usage: "how --render renders: plain, kustomize or helm (default: detected)", EnvVars: []string{"TAGRELAY_RENDER_TYPE"}, Destination: &r.typ, Category: cat},
		&cli.StringSliceFlag{Name: "render-set", Usage: "Helm value `KEY=VALUE` of the render, as helm --set (repeatable)", EnvVars: []string{"TAGRELAY_RENDER_SET"}, Destination: &r.sets, Category: cat},
		&cli.StringFlag{Name: "app", Usage: "take the render settings (path, type, valuesFiles, set) of reconciler app `NAME` from --apps", EnvVars: []string{"TAGRELAY_APP"}, Destination: &r.app, Category: cat},
		&cli.StringFlag{Name: "apps", Usage: "the reconciler's apps `FILE` (tagrelay-reconciler --config) that --app is read from", EnvVars: []string{"TAGRELAY_APPS"}, Destination: &r.apps, TakesFile: true, Category: cat},
		&cli.BoolFlag{Name: "explain", Usage: "print the files and keys that decide --image's tag in the render, and change nothing (needs --render or --app)", EnvVars: []string{"TAGRELAY_EXPLAIN"}, Destination: &r.explain, Category: cat},
	}
}

// enabled reports whether a render check was asked for.
func (r *renderOptions) enabled() bool { return r.dir != "" || r.app != "" }

// RenderChecker is one render check made from the flags (renderengine.Checker).
type RenderChecker interface {
	// Settings are the render settings; Path is adjusted to the repository before a check.
	Settings() *bump.RenderSettings
	// Check renders fsys with the edit of res and checks that every target runs in it.
	Check(ctx context.Context, fsys fs.FS, res *bump.Result, targets []bump.Target) error
	// Explain returns the chain of inputs that decide repo's tag in the render of fsys.
	Explain(ctx context.Context, fsys fs.FS, repo string) (interface{ Text() string }, error)
}

// RenderEngine makes the render check of s, or, when apps is not nil, of the reconciler app
// called app in that apps file.
type RenderEngine func(s bump.RenderSettings, apps []byte, app string) (RenderChecker, error)

// renderEngine is the render check's engine, nil in a binary that does not link the
// reconciler's render code (tagrelay-bump: no Kustomize engine, no Helm).
var renderEngine RenderEngine

// SetRenderEngine installs the render check's engine (the tagrelay binary does, with
// renderengine.New). Without one, --render, --app and --explain are refused with exit 2.
func SetRenderEngine(e RenderEngine) { renderEngine = e }

// checker builds the render check from the flags: --render and its companions, or --app.
func (r *renderOptions) checker() (RenderChecker, error) {
	var s bump.RenderSettings
	var apps []byte
	switch {
	case r.app != "" && r.dir != "":
		return nil, clirun.Usagef("--app takes the path from the apps file", "--render and --app given together")
	case r.app != "":
		if r.apps == "" {
			return nil, clirun.Usagef("pass the reconciler's apps file with --apps", "--app without --apps")
		}
		if len(r.values.Value()) > 0 || len(r.sets.Value()) > 0 || r.typ != "" {
			return nil, clirun.Usagef("--app takes them from the apps file", "--values, --render-set or --render-type given with --app")
		}
		data, err := os.ReadFile(r.apps)
		if err != nil {
			return nil, clirun.Usagef("check --apps", "reading the apps file: %v", err)
		}
		apps = data
	default:
		s = bump.RenderSettings{Path: r.dir, Type: r.typ, ValuesFiles: r.values.Value(), Set: r.sets.Value()}
	}
	if renderEngine == nil {
		return nil, clirun.Usagef("use the tagrelay binary (tagrelay bump --render …): tagrelay-bump stays free of the Kustomize and Helm engines",
			"this binary has no render check")
	}
	c, err := renderEngine(s, apps, r.app)
	switch {
	case err != nil && apps != nil:
		return nil, errdefs.WithHint(err, "check --app and --apps")
	case err != nil:
		return nil, errdefs.WithHint(err, "check --render-type and --values")
	}
	return c, nil
}

// renderHint gives a refused render check the flags that fix it.
func renderHint(err error) error {
	return errdefs.WithHint(err, "bump the file named (--file), or fix the render settings (--render, --values, --render-set, --app); the render runs what is shown")
}

// localRenderDir is --render relative to root (the common directory of the files and it).
func localRenderDir(root, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// checkoutTop is the top of the git checkout that holds dir (the closest directory above it
// with a .git), or dir itself outside a checkout.
func checkoutTop(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return abs
		}
	}
}

// runExplain is bump --explain: read-only, local files.
func runExplain(ctx context.Context, env *clirun.Env, o *options) error {
	if o.image == "" {
		return clirun.Usagef("pass the image repository with --image", "--explain without --image")
	}
	if o.repo != "" {
		return clirun.Usagef("run --explain in a checkout of the infra repository", "--explain works on local files, not with --repo")
	}
	dir := o.render.dir
	if o.render.app != "" {
		dir = "."
	}
	top := checkoutTop(dir)
	root, rel, err := localPaths([]string{filepath.Join(dir, "x"), filepath.Join(top, "x")}) // below both: the root is top when it holds dir
	if err != nil {
		return err
	}
	rel[0], rel[1] = path.Dir(rel[0]), path.Dir(rel[1])
	c, err := o.render.checker()
	if err != nil {
		return err
	}
	if o.render.app == "" {
		c.Settings().Path = rel[0]
	} else {
		c.Settings().Path = path.Join(rel[1], c.Settings().Path)
	}
	fsys, closeFS, err := openRoot(root)
	if err != nil {
		return err
	}
	defer closeFS()
	e, err := c.Explain(ctx, fsys, o.image)
	if err != nil {
		return err
	}
	return env.Emit(&o.common, e, e.Text(), nil)
}

func openRoot(root string) (fs.FS, func(), error) {
	dir, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, clirun.Usagef("check --file and --render", "opening %s: %v", root, err)
	}
	return dir.FS(), func() { dir.Close() }, nil
}
