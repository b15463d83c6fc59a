package reconcile

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// The guards' sentinels.
var (
	// ErrTenancy: the app renders objects outside its namespace, or cluster-scoped kinds it is
	// not allowed. Nothing was applied.
	ErrTenancy = errors.New("objects outside the app's destination")
	// ErrNotOwned: objects the app renders exist and belong to another app or to nobody.
	// Nothing was applied.
	ErrNotOwned = errors.New("objects not owned by the app")
	// ErrUnknownKind: a kind the cluster does not serve and the render does not define.
	ErrUnknownKind = errors.New("unknown kind")
)

// resolve maps every resource to its API resource and scope. Kinds defined by a CRD of the
// same render are marked pending (their scope comes from the CRD).
func (r *Reconciler) resolve(rs []*resource) error {
	crds := renderedCRDs(rs)
	var unknown []string
	reset := false
	for _, res := range rs {
		gvk := res.obj.GroupVersionKind()
		m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) && crds[gvk.GroupKind()] == "" && !reset {
			// The discovery cache lives as long as the server: a CRD installed since then
			// is unknown to it until it is refreshed, once per sync.
			r.mapper.Reset()
			reset = true
			m, err = r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
		switch {
		case err == nil:
			res.gvr, res.namespaced = m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace
		case meta.IsNoMatchError(err) && crds[gvk.GroupKind()] != "":
			res.pending, res.namespaced = true, crds[gvk.GroupKind()] == "Namespaced"
		case meta.IsNoMatchError(err):
			unknown = append(unknown, fmt.Sprintf("%s %s (%s)", gvk.GroupVersion(), gvk.Kind, res.source))
		default:
			return errdefs.Unavailable(fmt.Errorf("discovering the API of %s: %w", gvk, err))
		}
	}
	if len(unknown) > 0 {
		return errdefs.WithHint(errdefs.Invalid(fmt.Errorf("%w: %s", ErrUnknownKind, strings.Join(unknown, ", "))),
			"fix apiVersion/kind, or install the CRD first (or render it with the app)")
	}
	return nil
}

// renderedCRDs returns the scope of every kind defined by a CRD in the render.
func renderedCRDs(rs []*resource) map[schema.GroupKind]string {
	out := map[schema.GroupKind]string{}
	for _, res := range rs {
		if res.gk() != crdKind {
			continue
		}
		group, _, _ := unstructured.NestedString(res.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(res.obj.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(res.obj.Object, "spec", "scope")
		out[schema.GroupKind{Group: group, Kind: kind}] = scope
	}
	return out
}

// guardTenancy puts namespaced objects without a namespace into the app's, and refuses any
// object in another namespace or of a cluster-scoped kind the app may not write, a Namespace
// other than the app's or below its Pod Security level, a binding to someone outside the app or
// to a role it may not grant, and a workload or token of a ServiceAccount that is not the
// app's. Every offender is listed; nothing is applied. It also refuses duplicates and labels
// every object with its owner.
func guardTenancy(app App, rs []*resource) error {
	var offenders []string
	seen := map[string]string{}
	for _, res := range rs {
		ns := res.obj.GetNamespace()
		switch {
		case res.namespaced && ns == "":
			res.obj.SetNamespace(app.Namespace)
		case res.namespaced && ns != app.Namespace:
			offenders = append(offenders, fmt.Sprintf("%s (namespace %s)", res, ns))
		case !res.namespaced && !app.allowsClusterKind(res.gk()):
			offenders = append(offenders, fmt.Sprintf("%s (cluster-scoped %s)", res, res.gk().String()))
		case !res.namespaced:
			res.obj.SetNamespace("")
		}
		k := res.ref().key()
		if first, dup := seen[k]; dup {
			return errdefs.Invalid(fmt.Errorf("%s is rendered twice (%s and %s)", res, first, res.source))
		}
		seen[k] = res.source
		labels := res.obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[OwnerLabel] = app.Name
		res.obj.SetLabels(labels)
	}
	offenders = append(offenders, guardNamespaces(app, rs)...)
	offenders = append(offenders, guardBindings(app, rs)...)
	offenders = append(offenders, guardServiceAccounts(app, rs)...)
	if len(offenders) > 0 {
		return errdefs.WithHint(errdefs.Precondition(fmt.Errorf("%w: app %s may only write to namespace %s, refused: %s",
			ErrTenancy, app.Name, app.Namespace, strings.Join(offenders, ", "))),
			"keep everything in namespace "+app.Namespace+" and to the app's own identities, or allow it in the app's config (allowClusterKinds, allowRoles, serviceAccounts); nothing was applied")
	}
	return nil
}

// guardOwnership refuses to touch existing objects that carry no owner label or another app's,
// unless adopt.
func guardOwnership(app App, rs []*resource, adopt bool) error {
	if adopt {
		return nil
	}
	var foreign []string
	for _, res := range rs {
		if res.live == nil {
			continue
		}
		switch owner := res.live.GetLabels()[OwnerLabel]; owner {
		case app.Name:
		case "":
			foreign = append(foreign, res.String()+" (unlabelled)")
		default:
			foreign = append(foreign, fmt.Sprintf("%s (owned by app %s)", res, owner))
		}
	}
	if len(foreign) > 0 {
		return errdefs.WithHint(errdefs.Conflict(fmt.Errorf("%w %s: %s", ErrNotOwned, app.Name, strings.Join(foreign, ", "))),
			"rename the objects, or take them over with --adopt; nothing was applied")
	}
	return nil
}

func (a App) allowsClusterKind(gk schema.GroupKind) bool {
	for _, k := range a.AllowClusterKinds {
		if k == gk.Kind || k == gk.String() {
			return true
		}
	}
	return false
}
