package reconcile

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The labels and field managers tagrelay writes.
const (
	// OwnerLabel marks every object an app applied, with the app's name as value.
	OwnerLabel = "tagrelay.dev/app"
	// FieldManager owns the fields of the rendered configuration.
	FieldManager = "tagrelay"
	// RestartFieldManager owns kubectl.kubernetes.io/restartedAt, so the next apply under
	// FieldManager does not remove it (fluxcd/flux2#2526).
	RestartFieldManager = "tagrelay-restart"
	// RestartedAtAnnotation is the pod template annotation of `kubectl rollout restart`.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// resource is one rendered object on its way through a sync.
type resource struct {
	obj    *unstructured.Unstructured // the rendered object, labelled
	source string                     // where it was rendered from: a file, "helm chart web"
	gvr    schema.GroupVersionResource
	// namespaced is the scope; pending is set when the kind is defined by a CRD of the same
	// render that is not applied yet.
	namespaced, pending bool

	live    *unstructured.Unstructured // nil when the object does not exist
	merged  *unstructured.Unstructured // the server-side apply dry run
	applied *unstructured.Unstructured // the answer of the apply
	action  api.Action
}

// ref identifies an object across syncs (the inventory entry).
type ref struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Config and Fields fingerprint the last apply (see unchangedSinceApply); empty when unknown.
	Config string `json:"config,omitempty"`
	Fields string `json:"fields,omitempty"`
}

func refOf(u *unstructured.Unstructured) ref {
	gvk := u.GroupVersionKind()
	return ref{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: u.GetNamespace(), Name: u.GetName()}
}

// String is Kind/namespace/name, or Kind/name for cluster-scoped objects.
func (r ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// key ignores the version: apps/v1 and apps/v1beta2 Deployment web are one object.
func (r ref) key() string {
	return r.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

func (r *resource) ref() ref             { return refOf(r.obj) }
func (r *resource) String() string       { return r.ref().String() }
func (r *resource) gk() schema.GroupKind { return r.obj.GroupVersionKind().GroupKind() }

// The kinds everything else may depend on, applied first.
var (
	crdKind       = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespaceKind = schema.GroupKind{Kind: "Namespace"}
)

// rank is r's place in the apply order: 0 CRDs, 1 namespaces, 2 other cluster-scoped objects,
// 3 namespaced ones (and kinds of a CRD not applied yet).
func rank(r *resource) int {
	switch r.gk() {
	case crdKind:
		return 0
	case namespaceKind:
		return 1
	}
	if !r.namespaced && !r.pending {
		return 2
	}
	return 3
}

// applyOrder sorts resources so that what others depend on goes first: CRDs and namespaces,
// then other cluster-scoped objects, then namespaced ones; by kind and name within a group.
func applyOrder(rs []*resource) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		return a.ref().key() < b.ref().key()
	})
}

// isFoundation reports whether r must be applied before everything else: a CRD or a namespace.
func isFoundation(r *resource) bool { return rank(r) < 2 }

func joinRefs[T fmt.Stringer](items []T) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.String()
	}
	return strings.Join(s, ", ")
}
