package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// RBACOptions say which identity the generated RBAC is for.
type RBACOptions struct {
	// Namespace is the reconciler's namespace, where its ServiceAccount lives. Default:
	// tagrelay-system.
	Namespace string
	// ServiceAccount is the reconciler's ServiceAccount. Default: tagrelay-reconciler.
	ServiceAccount string
	// Mapper maps kinds to resources (a cluster's discovery). Default: nil, the resource is
	// guessed from the kind (Kind → kinds), which holds for built-in kinds and most CRDs.
	Mapper meta.RESTMapper
}

// writeVerbs are what the reconciler does to an app's objects: read, server-side apply (create,
// patch), delete. Never escalate, bind (except by name, below) or impersonate.
var writeVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// namespacedRules are the kinds an app may write in its namespace, resource by resource: no
// wildcard, so no subresource — pods/exec, pods/attach, pods/portforward, pods/proxy,
// services/proxy, serviceaccounts/token are never granted. Roles and RoleBindings are, because
// the API server's escalation check keeps them within what the reconciler holds there.
var namespacedRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets", "services", "serviceaccounts",
		"persistentvolumeclaims", "pods", "replicationcontrollers"}, Verbs: writeVerbs},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets", "replicasets"}, Verbs: writeVerbs},
	{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: writeVerbs},
	{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: writeVerbs},
	{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: writeVerbs},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "networkpolicies"}, Verbs: writeVerbs},
	{APIGroups: []string{rbacGroup}, Resources: []string{"roles", "rolebindings"}, Verbs: writeVerbs},
	// a failed rollout is explained with the events of its pods
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
}

// RBAC returns what lets the reconciler deploy cfg's apps and nothing more, for `kubectl apply`
// or ApplyRBAC, on top of deploy/ (a ClusterRole for discovery, a Role in its own namespace):
//   - per destination namespace, a Role and a RoleBinding: namespacedRules, the apps'
//     extraKinds, and bind on the ClusterRoles of their allowRoles, by name;
//   - one ClusterRole and ClusterRoleBinding: get on the destination namespaces and the
//     reconciler's own, by name; the cluster kinds the apps allow, by resource (Namespace only by
//     name, and never create); bind on allowRoles when ClusterRoleBindings are allowed;
//   - the Namespace of every app with createNamespace, with its Pod Security label: the
//     reconciler may not create namespaces itself.
func RBAC(cfg *Config, opts RBACOptions) ([]*unstructured.Unstructured, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultOptions().Namespace
	}
	if opts.ServiceAccount == "" {
		opts.ServiceAccount = "tagrelay-reconciler"
	}
	g := &rbacGen{opts: opts, subject: rbacv1.Subject{Kind: "ServiceAccount", Name: opts.ServiceAccount, Namespace: opts.Namespace}}
	byNS := map[string][]App{}
	var namespaces []string
	for _, a := range cfg.Apps {
		if len(byNS[a.Namespace]) == 0 {
			namespaces = append(namespaces, a.Namespace)
		}
		byNS[a.Namespace] = append(byNS[a.Namespace], a)
	}
	sort.Strings(namespaces)
	var out []any
	for _, ns := range namespaces {
		if slices.ContainsFunc(byNS[ns], func(a App) bool { return a.CreateNamespace }) {
			out = append(out, &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"),
				ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: namespaceLabels(strictest(byNS[ns]))}})
		}
		role, err := g.role(ns, byNS[ns])
		if err != nil {
			return nil, err
		}
		out = append(out, role, g.roleBinding(ns))
	}
	cluster, err := g.clusterRole(cfg.Apps, namespaces)
	if err != nil {
		return nil, err
	}
	out = append(out, cluster, g.clusterRoleBinding())
	return toUnstructured(out)
}

// strictest is the app of a shared namespace with the strictest Pod Security level.
func strictest(apps []App) App {
	best := apps[0]
	for _, a := range apps[1:] {
		if podSecurityRank[a.podSecurity()] > podSecurityRank[best.podSecurity()] {
			best = a
		}
	}
	return best
}

type rbacGen struct {
	opts    RBACOptions
	subject rbacv1.Subject
}

// name is the name of the generated objects: one set per reconciler identity.
func (g *rbacGen) name() string { return g.opts.ServiceAccount }

// clusterName is the name of the cluster-scoped objects, unique per reconciler namespace.
func (g *rbacGen) clusterName() string {
	return g.opts.ServiceAccount + ":" + g.opts.Namespace + ":apps"
}

func (g *rbacGen) meta(name, ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "tagrelay-reconciler-rbac"}}
}

func (g *rbacGen) role(ns string, apps []App) (*rbacv1.Role, error) {
	rules := slices.Clone(namespacedRules)
	var roles []string
	for _, a := range apps {
		for _, k := range a.ExtraKinds {
			gr, err := g.resource(k)
			if err != nil {
				return nil, fmt.Errorf("app %s: extraKinds %s: %w", a.Name, k, err)
			}
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{gr.Group}, Resources: []string{gr.Resource}, Verbs: writeVerbs})
		}
		roles = append(roles, a.AllowRoles...)
	}
	if len(roles) > 0 {
		rules = append(rules, bindRule(roles))
	}
	return &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: g.meta(g.name(), ns), Rules: rules}, nil
}

// bindRule lets the reconciler bind the listed ClusterRoles, and only them, without holding
// their permissions: RBAC enforces allowRoles as the guard does.
func bindRule(roles []string) rbacv1.PolicyRule {
	slices.Sort(roles)
	return rbacv1.PolicyRule{APIGroups: []string{rbacGroup}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"},
		ResourceNames: slices.Compact(roles)}
}

func (g *rbacGen) roleBinding(ns string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: g.meta(g.name(), ns),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: g.name()},
		Subjects: []rbacv1.Subject{g.subject}}
}

func (g *rbacGen) clusterRole(apps []App, namespaces []string) (*rbacv1.ClusterRole, error) {
	read := append(slices.Clone(namespaces), g.opts.Namespace)
	slices.Sort(read)
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}, ResourceNames: slices.Compact(read)}}
	var nsWrite, roles []string
	seen := map[schema.GroupResource]bool{}
	for _, a := range apps {
		for _, k := range a.AllowClusterKinds {
			gr, err := g.resource(k)
			if err != nil {
				return nil, fmt.Errorf("app %s: allowClusterKinds %s: %w", a.Name, k, err)
			}
			switch {
			case gr == (schema.GroupResource{Resource: "namespaces"}):
				nsWrite = append(nsWrite, a.Namespace)
			case !seen[gr]:
				seen[gr] = true
				rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{gr.Group}, Resources: []string{gr.Resource}, Verbs: writeVerbs})
			}
			if gr == (schema.GroupResource{Group: rbacGroup, Resource: "clusterrolebindings"}) {
				roles = append(roles, a.AllowRoles...)
			}
		}
	}
	if len(nsWrite) > 0 {
		slices.Sort(nsWrite)
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"},
			Verbs: []string{"update", "patch", "delete"}, ResourceNames: slices.Compact(nsWrite)})
	}
	if len(roles) > 0 {
		rules = append(rules, bindRule(roles))
	}
	return &rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: g.meta(g.clusterName(), ""), Rules: rules}, nil
}

func (g *rbacGen) clusterRoleBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: g.meta(g.clusterName(), ""),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: g.clusterName()},
		Subjects: []rbacv1.Subject{g.subject}}
}

// resource maps "Kind" or "Kind.group" to its resource: by discovery when there is a mapper,
// else by the usual plural.
func (g *rbacGen) resource(kindGroup string) (schema.GroupResource, error) {
	kind, group, _ := strings.Cut(kindGroup, ".")
	if kind == "" {
		return schema.GroupResource{}, fmt.Errorf("write Kind or Kind.group")
	}
	gk := schema.GroupKind{Group: group, Kind: kind}
	if g.opts.Mapper != nil {
		m, err := g.opts.Mapper.RESTMapping(gk)
		if err != nil {
			return schema.GroupResource{}, err
		}
		return m.Resource.GroupResource(), nil
	}
	plural, _ := meta.UnsafeGuessKindToResource(gk.WithVersion("v1"))
	return plural.GroupResource(), nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func toUnstructured(objs []any) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		if spec, ok := u.Object["spec"].(map[string]any); ok && len(spec) == 0 {
			delete(u.Object, "spec")
		}
		out[i] = u
	}
	return out, nil
}

// RBACFieldManager owns the fields of the objects ApplyRBAC writes.
const RBACFieldManager = "tagrelay-rbac"

// ApplyRBAC server-side-applies objs (from RBAC) with the identity of the Reconciler, which must
// be allowed to grant them (a cluster admin's: the reconciler's own ServiceAccount cannot).
func (r *Reconciler) ApplyRBAC(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return errdefs.Unavailable(fmt.Errorf("discovering %s: %w", gvk, err))
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return err
		}
		// A Namespace's labels may be someone else's (a stricter Pod Security level): a
		// conflict is reported, never forced.
		force := o.GetKind() != "Namespace"
		client := r.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		_, err = client.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: RBACFieldManager, Force: &force})
		if err != nil {
			return apiError("applying "+refOf(o).String(), err)
		}
	}
	return nil
}

// RESTMapper returns the Reconciler's discovery-backed mapper (for RBACOptions.Mapper).
func (r *Reconciler) RESTMapper() meta.RESTMapper { return r.mapper }
