package reconcile

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What a hostile repository can do with identities, and what the guard refuses (RBAC, from
// `tagrelay-reconciler rbac`, holds the same line a second time):
//   - grant rights to someone outside the app: a RoleBinding or ClusterRoleBinding whose
//     subject is a ServiceAccount of another namespace, its User form
//     (system:serviceaccount:NS:NAME), another namespace's ServiceAccount group, or a system
//     identity (system:authenticated, system:serviceaccounts, system:masters…);
//   - grant more than the app was given: a binding to a ClusterRole not in allowRoles
//     (cluster-admin, edit…);
//   - borrow an identity: serviceAccountName cannot name another namespace, but it can name a
//     ServiceAccount of the namespace that is not the app's (another app's in a shared
//     namespace, one the platform placed there); a Secret of type service-account-token mints a
//     long-lived token of the ServiceAccount it names. Both must name "default", a
//     ServiceAccount the app renders, or one listed in serviceAccounts. A projected
//     serviceAccountToken volume is always the pod's own ServiceAccount's, checked above.

// The RBAC kinds the guard reads.
const rbacGroup = "rbac.authorization.k8s.io"

// guardBindings returns the bindings whose subjects lie outside the app or whose role the app
// may not grant.
func guardBindings(app App, rs []*resource) []string {
	var out []string
	for _, res := range rs {
		gk := res.gk()
		if gk.Group != rbacGroup || (gk.Kind != "RoleBinding" && gk.Kind != "ClusterRoleBinding") {
			continue
		}
		var why []string
		kind, _, _ := unstructured.NestedString(res.obj.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(res.obj.Object, "roleRef", "name")
		switch {
		case kind == "Role" && gk.Kind == "RoleBinding":
			// a Role of the app's namespace: it cannot grant more than the reconciler holds there
		case kind == "ClusterRole" && slices.Contains(app.AllowRoles, name):
		default:
			why = append(why, fmt.Sprintf("role %s %s is not in the app's allowRoles", kind, name))
		}
		subjects, _, _ := unstructured.NestedSlice(res.obj.Object, "subjects")
		for _, s := range subjects {
			m, _ := s.(map[string]any)
			if w := foreignSubject(app, gk.Kind, m); w != "" {
				why = append(why, w)
			}
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("%s (%s)", res, strings.Join(why, "; ")))
		}
	}
	return out
}

// foreignSubject says why a binding subject lies outside the app's namespace, "" when it does not.
func foreignSubject(app App, bindingKind string, s map[string]any) string {
	kind, _ := s["kind"].(string)
	name, _ := s["name"].(string)
	ns, _ := s["namespace"].(string)
	switch kind {
	case "ServiceAccount":
		if ns == "" && bindingKind == "RoleBinding" {
			ns = app.Namespace // the API server defaults it to the binding's
		}
		if ns != app.Namespace {
			return fmt.Sprintf("subject ServiceAccount %s/%s is outside namespace %s", ns, name, app.Namespace)
		}
	case "User":
		if rest, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
			if sans, _, _ := strings.Cut(rest, ":"); sans != app.Namespace {
				return fmt.Sprintf("subject User %s is a ServiceAccount outside namespace %s", name, app.Namespace)
			}
		} else if strings.HasPrefix(name, "system:") {
			return fmt.Sprintf("subject User %s is a system identity", name)
		}
	case "Group":
		if name != "system:serviceaccounts:"+app.Namespace && strings.HasPrefix(name, "system:") {
			return fmt.Sprintf("subject Group %s reaches beyond namespace %s", name, app.Namespace)
		}
	default:
		return fmt.Sprintf("subject kind %q is unknown", kind)
	}
	return ""
}

// podSpecs are where pod specs sit, by kind: the no-op guard's workloads, and the kinds that
// only hold a template.
var podSpecs = func() map[string][]string {
	m := map[string][]string{"ReplicationController": {"spec", "template", "spec"}, "PodTemplate": {"template", "spec"}}
	for k, v := range podSpecPath {
		m[k] = v
	}
	return m
}()

// serviceAccountTokenType is the type of a Secret the token controller fills with a token of
// the ServiceAccount its annotation names.
const serviceAccountTokenType = "kubernetes.io/service-account-token"

// guardServiceAccounts returns the workloads and token Secrets that use a ServiceAccount the
// app does not own.
func guardServiceAccounts(app App, rs []*resource) []string {
	mine := map[string]bool{"default": true}
	for _, sa := range app.ServiceAccounts {
		mine[sa] = true
	}
	for _, res := range rs {
		if gk := res.gk(); gk.Group == "" && gk.Kind == "ServiceAccount" {
			mine[res.obj.GetName()] = true
		}
	}
	var out []string
	for _, res := range rs {
		sas, what := usedServiceAccounts(res)
		for _, sa := range sas {
			if !mine[sa] {
				out = append(out, fmt.Sprintf("%s (%s ServiceAccount %s, which the app neither renders nor lists in serviceAccounts)", res, what, sa))
				break
			}
		}
	}
	return out
}

// usedServiceAccounts returns the ServiceAccounts a workload runs as (serviceAccountName and
// its deprecated alias serviceAccount: both are checked, whichever the API server keeps), or
// a token Secret is for, with how it uses them.
func usedServiceAccounts(res *resource) (sas []string, what string) {
	if res.gk().Group == "" && res.gk().Kind == "Secret" {
		t, _, _ := unstructured.NestedString(res.obj.Object, "type")
		if t != serviceAccountTokenType {
			return nil, ""
		}
		return []string{res.obj.GetAnnotations()["kubernetes.io/service-account.name"]}, "mints a token of"
	}
	p, ok := podSpecs[res.gk().Kind]
	if !ok {
		return nil, ""
	}
	spec, found, _ := unstructured.NestedMap(res.obj.Object, p...)
	if !found {
		return nil, ""
	}
	for _, field := range []string{"serviceAccountName", "serviceAccount"} {
		if s, _ := spec[field].(string); s != "" {
			sas = append(sas, s)
		}
	}
	return sas, "runs as"
}

// bindingsToNewRoles marks the RoleBindings to a Role that this sync creates as pending: the
// API server checks a binding against its Role (the reconciler must hold what the Role grants,
// as it has no bind permission on Roles), so such a binding cannot be dry-run before its Role
// exists. It is planned as created and applied after the Roles (splitRoles).
func bindingsToNewRoles(rs []*resource) {
	created := map[string]bool{}
	for _, res := range rs {
		if gk := res.gk(); gk.Group == rbacGroup && gk.Kind == "Role" && res.live == nil {
			created[res.obj.GetNamespace()+"/"+res.obj.GetName()] = true
		}
	}
	for _, res := range rs {
		if gk := res.gk(); gk.Group != rbacGroup || gk.Kind != "RoleBinding" || res.live != nil {
			continue
		}
		kind, _, _ := unstructured.NestedString(res.obj.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(res.obj.Object, "roleRef", "name")
		if kind == "Role" && created[res.obj.GetNamespace()+"/"+name] {
			res.pending = true
		}
	}
}

// splitRoles separates the Roles and ClusterRoles, applied before everything else.
func splitRoles(rs []*resource) (roles, others []*resource) {
	for _, res := range rs {
		if gk := res.gk(); gk.Group == rbacGroup && (gk.Kind == "Role" || gk.Kind == "ClusterRole") {
			roles = append(roles, res)
		} else {
			others = append(others, res)
		}
	}
	return roles, others
}
