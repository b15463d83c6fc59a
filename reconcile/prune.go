package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// PruneAnnotation set to PruneDisabled on an object keeps it when it leaves the render: it is
// released from the app's inventory, not deleted.
const (
	PruneAnnotation = "tagrelay.dev/prune"
	PruneDisabled   = "disabled"
)

// ErrPruneLimit: a sync would prune more than the app's limits.maxPrune share of its inventory
// (an emptied directory, a wrong path, a bad merge). Nothing was applied.
var ErrPruneLimit = errors.New("prune refused")

// prunePlan is what a sync prunes, decided before anything is applied: deleting starts only
// once every stale object's kind was resolved and its live state read.
type prunePlan struct {
	deletes  []pruneTarget
	changes  []api.ObjectChange // skipped and kept objects, for the result
	warnings []string
}

// pruneTarget is one object to delete, by UID (a recreated object of the same name is not it).
type pruneTarget struct {
	ref ref
	gvr schema.GroupVersionResource
	uid types.UID
}

// planPrune decides what happens to every object of the previous inventory that the app no
// longer renders:
//   - outside the app's destination now (namespace, cluster kind no longer allowed): left alone;
//   - gone, or its kind gone (only a NoMatch error from discovery says so: any other discovery
//     or read error fails the sync, and nothing is pruned);
//   - no longer the app's (owner label changed or removed): left alone;
//   - a protected kind (Namespace, CRD, PVC, PV) the app does not list in allowPrune, or an
//     object annotated tagrelay.dev/prune: disabled: kept, released from the inventory, with a
//     warning in the result;
//   - anything else is deleted, unless that is more than limits.maxPrune percent of the
//     inventory and the sync is not forced.
func (r *Reconciler) planPrune(ctx context.Context, app App, previous []ref, rs []*resource, force bool) (*prunePlan, error) {
	p := &prunePlan{}
	reset := false
	for _, old := range stale(previous, rs) {
		gk := schema.GroupKind{Group: old.Group, Kind: old.Kind}
		if old.Namespace != "" && old.Namespace != app.Namespace || old.Namespace == "" && !app.allowsClusterKind(gk) {
			p.changes = append(p.changes, api.ObjectChange{Object: old.String(), Action: api.ActionSkipped})
			continue
		}
		m, err := r.mapper.RESTMapping(gk, old.Version)
		if meta.IsNoMatchError(err) && !reset {
			r.mapper.Reset() // a stale discovery cache is not proof that the kind is gone
			reset = true
			m, err = r.mapper.RESTMapping(gk, old.Version)
		}
		if meta.IsNoMatchError(err) {
			continue // the kind is gone (CRD deleted), and its objects with it
		}
		if err != nil {
			return nil, errdefs.Unavailable(fmt.Errorf("discovering the API of %s before pruning it: %w; nothing was applied or pruned", old, err))
		}
		live, err := r.dyn.Resource(m.Resource).Namespace(old.Namespace).Get(ctx, old.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, apiError("reading "+old.String()+" before pruning it", err)
		}
		switch {
		case live.GetLabels()[OwnerLabel] != app.Name:
			r.log.Warn("not pruning an object the app no longer owns", "object", old.String(), "owner", live.GetLabels()[OwnerLabel])
			p.changes = append(p.changes, api.ObjectChange{Object: old.String(), Action: api.ActionSkipped})
		case live.GetAnnotations()[PruneAnnotation] == PruneDisabled:
			p.keep(old, fmt.Sprintf("kept %s (annotated %s: %s)", old, PruneAnnotation, PruneDisabled))
		case protectedKinds[old.Kind] && !slices.Contains(app.AllowPrune, old.Kind):
			p.keep(old, fmt.Sprintf("kept %s (a %s is never pruned unless the app lists it in allowPrune)", old, old.Kind))
		default:
			p.deletes = append(p.deletes, pruneTarget{ref: old, gvr: m.Resource, uid: live.GetUID()})
		}
	}
	if err := p.checkLimit(app, previous, force); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *prunePlan) keep(old ref, warning string) {
	p.changes = append(p.changes, api.ObjectChange{Object: old.String(), Action: api.ActionSkipped})
	p.warnings = append(p.warnings, warning)
}

// checkLimit refuses to prune more than limits.maxPrune percent of the inventory.
func (p *prunePlan) checkLimit(app App, previous []ref, force bool) error {
	limit := app.Limits.MaxPrune
	if limit <= 0 {
		limit = DefaultMaxPrune
	}
	if force || len(p.deletes) == 0 || len(p.deletes)*100 <= limit*len(previous) {
		return nil
	}
	refs := make([]ref, len(p.deletes))
	for i, d := range p.deletes {
		refs[i] = d.ref
	}
	listed := refs
	if len(listed) > 10 {
		listed = listed[:10]
	}
	more := ""
	if len(refs) > len(listed) {
		more = fmt.Sprintf(" and %d more", len(refs)-len(listed))
	}
	return errdefs.WithHint(errdefs.Precondition(fmt.Errorf("%w: the sync would prune %d of the %d objects of app %s (%d%%), more than its limit of %d%%: %s%s",
		ErrPruneLimit, len(refs), len(previous), app.Name, len(refs)*100/len(previous), limit, joinRefs(listed), more)),
		"check the app's path and revision; if the removal is meant, re-run with --force-prune (or raise limits.maxPrune); nothing was applied")
}

// preview lists what the plan prunes and keeps, for dry runs.
func (p *prunePlan) preview() []api.ObjectChange {
	out := append([]api.ObjectChange{}, p.changes...)
	for _, d := range p.deletes {
		out = append(out, api.ObjectChange{Object: d.ref.String(), Action: api.ActionPruned})
	}
	return out
}

// prune deletes what the plan says, each object by its UID. It returns what it did and the
// refs it could not delete (kept in the inventory for the next sync).
func (r *Reconciler) prune(ctx context.Context, p *prunePlan) ([]api.ObjectChange, []ref, error) {
	changes := append([]api.ObjectChange{}, p.changes...)
	var kept []ref
	var errs []error
	policy := metav1.DeletePropagationBackground
	for _, d := range p.deletes {
		err := r.dyn.Resource(d.gvr).Namespace(d.ref.Namespace).Delete(ctx, d.ref.Name, metav1.DeleteOptions{
			PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &d.uid}})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			changes = append(changes, api.ObjectChange{Object: d.ref.String(), Action: api.ActionPruned})
		case apierrors.IsConflict(err):
			// replaced since the plan read it: the new object is not the one to prune
			changes = append(changes, api.ObjectChange{Object: d.ref.String(), Action: api.ActionSkipped})
		default:
			errs = append(errs, apiError(fmt.Sprintf("deleting %s", d.ref), err))
			kept = append(kept, d.ref)
		}
	}
	return changes, kept, joinApplyErrors("pruning", errs)
}

// warnings is the plan's warnings as one line.
func (p *prunePlan) warning() string { return strings.Join(p.warnings, "; ") }

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
