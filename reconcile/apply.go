package reconcile

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// apply applies what the plan changes: namespaces and CRDs first (then waits for the CRDs to
// be served), then everything else in parallel, at most Jobs requests in flight.
func (r *Reconciler) apply(ctx context.Context, rs []*resource) error {
	var first, rest []*resource
	for _, res := range rs {
		if res.action != api.ActionCreated && res.action != api.ActionConfigured {
			continue
		}
		if isFoundation(res) {
			first = append(first, res)
		} else {
			rest = append(rest, res)
		}
	}
	if err := r.applyAll(ctx, first); err != nil {
		return err
	}
	if err := r.resolvePending(ctx, rs); err != nil {
		return err
	}
	return r.applyAll(ctx, rest)
}

func (r *Reconciler) applyAll(ctx context.Context, rs []*resource) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Jobs)
	var mu sync.Mutex
	var errs []error
	for _, res := range rs {
		g.Go(func() error {
			applied, err := r.applyOne(gctx, res, FieldManager, res.obj, false)
			res.applied = applied
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return joinApplyErrors("applying", errs)
}

// resolvePending maps the kinds defined by CRDs that were just applied, once the API server
// serves them.
func (r *Reconciler) resolvePending(ctx context.Context, rs []*resource) error {
	var pending []*resource
	for _, res := range rs {
		if res.pending {
			pending = append(pending, res)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		r.mapper.Reset()
		for _, res := range pending {
			gvk := res.obj.GroupVersionKind()
			m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				return false, nil
			}
			res.gvr, res.pending = m.Resource, false
		}
		return true, nil
	})
	if err != nil {
		return errdefs.Unavailable(fmt.Errorf("waiting for the CRDs of %s to be served: %w", joinRefs(pending), err))
	}
	return nil
}

// restart rolls every Deployment, StatefulSet and DaemonSet of the app like `kubectl rollout
// restart`, under its own field manager so that the next apply, which does not mention the
// annotation, leaves it alone.
func (r *Reconciler) restart(ctx context.Context, rs []*resource, now time.Time) ([]api.ObjectChange, error) {
	var out []api.ObjectChange
	var errs []error
	for _, res := range rs {
		switch res.gk().Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			continue
		}
		patch := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": res.obj.GetAPIVersion(), "kind": res.obj.GetKind(),
			"metadata": map[string]any{"name": res.obj.GetName(), "namespace": res.obj.GetNamespace()},
			"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
				"annotations": map[string]any{RestartedAtAnnotation: now.UTC().Format(time.RFC3339Nano)}}}},
		}}
		if _, err := r.applyOne(ctx, res, RestartFieldManager, patch, false); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, api.ObjectChange{Object: res.String(), Action: api.ActionRestarted})
	}
	return out, joinApplyErrors("restarting", errs)
}
