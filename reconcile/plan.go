package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// readLive fills res.live for every resource.
func (r *Reconciler) readLive(ctx context.Context, rs []*resource) error {
	live, err := r.list(ctx, rs)
	for _, res := range rs {
		res.live = live[res]
	}
	return err
}

// listAbove is how many objects of one kind in one namespace an app has before list reads
// them with one LIST rather than a GET each.
const listAbove = 8

// list returns the live object of every resource that exists: one LIST per kind and namespace
// for the kinds an app has many objects of, so a 300-object app costs a handful of requests,
// and a GET per object for the others — a LIST decodes the whole namespace, and a platform
// puts hundreds of apps in one: with 1,000 apps of three objects in one namespace, a LIST per
// kind made every sync and drift check decode 3,000 objects (measured: the first round slowed
// from 210 to 40 apps a minute as the namespace filled, and RSS reached 1.8 GiB). Cluster-scoped
// objects are few and fetched one by one.
func (r *Reconciler) list(ctx context.Context, rs []*resource) (map[*resource]*unstructured.Unstructured, error) {
	var mu sync.Mutex
	out := map[*resource]*unstructured.Unstructured{}
	set := func(res *resource, u *unstructured.Unstructured) {
		mu.Lock()
		out[res] = u
		mu.Unlock()
	}
	type group struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	groups := map[group][]*resource{}
	var single []*resource
	for _, res := range rs {
		switch {
		case res.pending:
		case res.namespaced:
			g := group{res.gvr, res.obj.GetNamespace()}
			groups[g] = append(groups[g], res)
		default:
			single = append(single, res)
		}
	}
	for grp, members := range groups {
		if len(members) <= listAbove {
			single = append(single, members...)
			delete(groups, grp)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Jobs)
	for grp, members := range groups {
		g.Go(func() error {
			list, err := r.dyn.Resource(grp.gvr).Namespace(grp.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return apiError(fmt.Sprintf("listing %s in %s", grp.gvr.Resource, grp.ns), err)
			}
			byName := make(map[string]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				byName[list.Items[i].GetName()] = &list.Items[i]
			}
			for _, res := range members {
				if u := byName[res.obj.GetName()]; u != nil {
					set(res, u)
				}
			}
			return nil
		})
	}
	for _, res := range single {
		g.Go(func() error {
			ri := dynamic.ResourceInterface(r.dyn.Resource(res.gvr))
			if res.namespaced {
				ri = r.dyn.Resource(res.gvr).Namespace(res.obj.GetNamespace())
			}
			live, err := ri.Get(ctx, res.obj.GetName(), metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return apiError("reading "+res.String(), err)
			}
			if err == nil {
				set(res, live)
			}
			return nil
		})
	}
	err := g.Wait()
	return out, err
}

// dryRun applies every resource server-side with dryRun=All and strict field validation, so
// invalid objects fail before anything is written, and sets res.merged and res.action.
// Resources whose CRD is not applied yet are planned as created; resources that provably did not
// change since the last apply (unchangedSinceApply) skip the request.
func (r *Reconciler) dryRun(ctx context.Context, rs []*resource, previous []ref) error {
	last := map[string]ref{}
	for _, p := range previous {
		last[p.key()] = p
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Jobs)
	var mu sync.Mutex
	var errs []error
	for _, res := range rs {
		if res.pending {
			res.action = api.ActionCreated
			continue
		}
		if unchangedSinceApply(res, last[res.ref().key()]) {
			res.merged, res.action = res.live, api.ActionUnchanged
			continue
		}
		g.Go(func() error {
			merged, err := r.applyOne(ctx, res, FieldManager, res.obj, true)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return nil
			}
			res.merged = merged
			switch {
			case res.live == nil:
				res.action = api.ActionCreated
			case equalObjects(res.live, merged):
				res.action = api.ActionUnchanged
			default:
				res.action = api.ActionConfigured
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return joinApplyErrors("validating (server-side dry run)", errs)
}

// applyOne server-side-applies obj as manager, forcing ownership of conflicting fields: the
// repository is the source of truth (kubectl edits are reverted, like Flux does).
func (r *Reconciler) applyOne(ctx context.Context, res *resource, manager string, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", res, err)
	}
	opts := metav1.PatchOptions{FieldManager: manager, Force: ptrTrue(), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := r.resourceClient(res).Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	if err != nil {
		return nil, objectError(res, err)
	}
	return out, nil
}

func (r *Reconciler) resourceClient(res *resource) dynamic.ResourceInterface {
	if res.namespaced {
		return r.dyn.Resource(res.gvr).Namespace(res.obj.GetNamespace())
	}
	return r.dyn.Resource(res.gvr)
}

// objectError names the object and its source; a rejected object is an input error.
func objectError(res *resource, err error) error {
	err = fmt.Errorf("%s (%s): %w", res, res.source, err)
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err), isSchemaError(err):
		return errdefs.Invalid(err)
	case apierrors.IsForbidden(err):
		return errdefs.WithHint(errdefs.Precondition(err), "grant the reconciler's service account access to this kind")
	}
	return errdefs.Unavailable(err)
}

// isSchemaError recognises an object that does not fit its schema (an unknown field) in a
// server-side apply: the API server returns the structured-merge error as a bare 500, so the
// message is the only way to tell it from a server fault (apimachinery
// pkg/util/managedfields/internal/structuredmerge.go).
func isSchemaError(err error) bool {
	return apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed to create typed patch object")
}

func apiError(doing string, err error) error {
	err = fmt.Errorf("%s: %w", doing, err)
	if apierrors.IsForbidden(err) {
		return errdefs.WithHint(errdefs.Precondition(err), "grant the reconciler's service account access")
	}
	return errdefs.Unavailable(err)
}

// joinApplyErrors keeps the first error's class and lists the objects that failed (the first
// maxListed of them: one line must stay readable).
func joinApplyErrors(doing string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	const maxListed = 5
	msgs := make([]string, 0, maxListed+1)
	for i, e := range errs {
		if i == maxListed {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(errs)-maxListed))
			break
		}
		msgs = append(msgs, e.Error())
	}
	return &classedError{msg: fmt.Sprintf("%s: %d object(s) failed: %s", doing, len(errs), strings.Join(msgs, "; ")), cause: errs[0]}
}

type classedError struct {
	msg   string
	cause error
}

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.cause }

func ptrTrue() *bool { t := true; return &t }

// objectChanges lists what the plan does to each object, with diffs when asked.
func objectChanges(rs []*resource, withDiff bool) []api.ObjectChange {
	out := make([]api.ObjectChange, 0, len(rs))
	for _, res := range rs {
		c := api.ObjectChange{Object: res.String(), Action: res.action}
		if withDiff {
			switch res.action {
			case api.ActionCreated:
				c.Diff = diffObject(res.String(), nil, res.obj)
			case api.ActionConfigured:
				c.Diff = diffObject(res.String(), res.live, res.merged)
			}
		}
		out = append(out, c)
	}
	return out
}
