package reconcile

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// prune deletes the objects of the previous inventory that the app no longer renders — but
// only those that still carry the app's owner label and lie inside its destination. It returns
// what it did and the refs it could not delete (kept in the inventory for the next sync).
func (r *Reconciler) prune(ctx context.Context, app App, previous []ref, rs []*resource) ([]api.ObjectChange, []ref, error) {
	var changes []api.ObjectChange
	var kept []ref
	var errs []error
	for _, old := range stale(previous, rs) {
		action, err := r.pruneOne(ctx, app, old)
		if err != nil {
			errs = append(errs, err)
			kept = append(kept, old)
			continue
		}
		if action != "" {
			changes = append(changes, api.ObjectChange{Object: old.String(), Action: action})
		}
	}
	return changes, kept, joinApplyErrors("pruning", errs)
}

func (r *Reconciler) pruneOne(ctx context.Context, app App, old ref) (api.Action, error) {
	gk := schema.GroupKind{Group: old.Group, Kind: old.Kind}
	if old.Namespace != "" && old.Namespace != app.Namespace || old.Namespace == "" && !app.allowsClusterKind(gk) {
		return api.ActionSkipped, nil // outside the destination now: never delete there
	}
	m, err := r.mapper.RESTMapping(gk, old.Version)
	if err != nil {
		return "", nil // the kind is gone (CRD deleted), and its objects with it
	}
	client := r.dyn.Resource(m.Resource).Namespace(old.Namespace)
	live, err := client.Get(ctx, old.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", apiError("reading "+old.String(), err)
	}
	if live.GetLabels()[OwnerLabel] != app.Name {
		r.log.Warn("not pruning an object the app no longer owns", "object", old.String(), "owner", live.GetLabels()[OwnerLabel])
		return api.ActionSkipped, nil
	}
	uid := live.GetUID()
	policy := metav1.DeletePropagationBackground
	err = client.Delete(ctx, old.Name, metav1.DeleteOptions{PropagationPolicy: &policy,
		Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", apiError(fmt.Sprintf("deleting %s", old), err)
	}
	return api.ActionPruned, nil
}

// stale returns the refs of previous that rs no longer renders.
func stale(previous []ref, rs []*resource) []ref {
	rendered := map[string]bool{}
	for _, res := range rs {
		rendered[res.ref().key()] = true
	}
	var out []ref
	for _, old := range previous {
		if !rendered[old.key()] {
			out = append(out, old)
		}
	}
	return out
}
