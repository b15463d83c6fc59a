package reconcile

import (
	"context"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// ErrRender marks repository content that cannot be rendered (invalid YAML, a Kustomize or
// Helm error, a render limit). It is an input error: nothing was applied.
var ErrRender = render.ErrRender

// renderApp renders the app's path of src within the app's limits (see package render). Helm
// hooks are not objects of the app: they are returned apart, and run by the sync (hooks.go).
func renderApp(ctx context.Context, app App, src *Source, opts render.Options) (*render.Result, error) {
	req := render.Request{Name: app.Name, Namespace: app.Namespace, Files: src.Files, Path: app.Path,
		Type: app.Type, ValuesFiles: app.ValuesFiles, Set: app.Set, Revision: src.Commit}
	opts.Limits = app.Limits.render(app)
	return render.Render(ctx, req, opts)
}

// resources turns a render into the resources of a sync.
func resources(res *render.Result) []*resource {
	rs := make([]*resource, len(res.Objects))
	for i, o := range res.Objects {
		rs[i] = &resource{obj: o.Object, source: o.Source}
	}
	return rs
}

// Rendered is an app rendered without a cluster.
type Rendered struct {
	// Revision is the commit rendered.
	Revision string
	render.Result
}

// Render fetches the app's revision and renders it within its limits, as a sync would but
// without a cluster: Helm templates see Helm's default capabilities. It is
// `tagrelay-reconciler render` (flux build kustomization, argocd app manifests).
func Render(ctx context.Context, app App, opts Options) (*Rendered, error) {
	opts.fill()
	app.Limits = app.Limits.Or(opts.Limits)
	if err := app.reservedNamespace(opts.Namespace); err != nil {
		return nil, errdefs.Precondition(err)
	}
	git := newFetcher(opts.CacheDir, time.Duration(opts.Limits.GitTimeout), opts.Source)
	rev, err := git.Resolve(ctx, app)
	if err != nil {
		return nil, err
	}
	src, err := git.Fetch(ctx, app, rev)
	if err != nil {
		return nil, err
	}
	res, err := renderApp(ctx, app, src, render.Options{Git: git.Files, Isolation: opts.RenderIsolation})
	if err != nil {
		return nil, err
	}
	return &Rendered{Revision: src.Commit, Result: *res}, nil
}
