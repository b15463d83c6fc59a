package reconcile

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// liveVersions is how an app's objects stood when a drift check read them: the version of the
// app's inventory and the resourceVersion of every object in it. The API server gives an
// object a new resourceVersion on every write and a deleted object has none, so equal
// versions mean that nobody changed, deleted or re-created any of the app's objects in
// between: a drift check that found the app in sync then need not dry-run it again
// (server-side: drift.go).
type liveVersions struct {
	inventory string
	refs      []ref
	versions  []string // of refs, in order; "" for an object not found or a kind no longer served
}

func (v *liveVersions) equal(o *liveVersions) bool {
	return v != nil && o != nil && v.inventory == o.inventory && slices.Equal(v.versions, o.versions) &&
		slices.EqualFunc(v.refs, o.refs, func(a, b ref) bool { return a.key() == b.key() })
}

// readVersions reads the versions of the app's objects with metadata-only GETs: the
// inventory's (its refs are prev's when its version is prev's; read again otherwise), then the
// objects', a few at once. An error other than "not found" is returned: the caller checks in
// full.
func (r *Reconciler) readVersions(ctx context.Context, app string, prev *liveVersions) (*liveVersions, error) {
	v := &liveVersions{}
	cm, err := r.meta.Resource(configMapsGVR).Namespace(r.opts.Namespace).Get(ctx, inventoryName(app), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return v, nil // nothing applied yet
	case err != nil:
		return nil, apiError("reading ConfigMap "+r.opts.Namespace+"/"+inventoryName(app), err)
	}
	if prev != nil && prev.inventory == cm.ResourceVersion {
		v.inventory, v.refs = prev.inventory, prev.refs
	} else {
		inv, err := r.readInventory(ctx, app)
		if err != nil {
			return nil, err
		}
		v.inventory, v.refs = inv.version, inv.refs
	}
	v.versions = make([]string, len(v.refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Jobs)
	for i, x := range v.refs {
		res, ok, err := r.resourceOf(x)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		g.Go(func() error {
			ri := r.meta.Resource(res.gvr)
			get := ri.Get
			if res.namespaced {
				get = ri.Namespace(x.Namespace).Get
			}
			m, err := get(gctx, x.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return apiError("reading "+x.String(), err)
			}
			v.versions[i] = m.ResourceVersion // each goroutine its own element
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return v, nil
}
