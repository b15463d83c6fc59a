package reconcile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

func obj(apiVersion, kind, ns, name string, namespaced bool) *resource {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return &resource{obj: u, source: "x.yaml", namespaced: namespaced}
}

func TestGuardTenancy(t *testing.T) {
	t.Parallel()
	app := App{Name: "web", Namespace: "team", AllowClusterKinds: []string{"Namespace", "ClusterRole.rbac.authorization.k8s.io"}}
	rs := []*resource{
		obj("v1", "ConfigMap", "", "defaulted", true),
		obj("v1", "ConfigMap", "team", "explicit", true),
		obj("v1", "Namespace", "ignored", "team", false),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader", false),
	}
	if err := guardTenancy(app, rs); err != nil {
		t.Fatalf("guardTenancy() = %v", err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.String()+" "+r.obj.GetLabels()[OwnerLabel])
	}
	want := []string{"ConfigMap/team/defaulted web", "ConfigMap/team/explicit web", "Namespace/team web", "ClusterRole/reader web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after guardTenancy (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		rs    []*resource
		class error
		want  string
	}{
		{"other namespace", []*resource{obj("v1", "ConfigMap", "other", "x", true)}, errdefs.ErrPrecondition, "ConfigMap/other/x (namespace other)"},
		{"cluster kind not allowed", []*resource{obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "x", false)}, errdefs.ErrPrecondition, "ClusterRoleBinding/x (cluster-scoped ClusterRoleBinding.rbac.authorization.k8s.io)"},
		{"same kind, other group", []*resource{obj("example.com/v1", "ClusterRole", "", "x", false)}, errdefs.ErrPrecondition, "ClusterRole.example.com"},
		{"duplicate", []*resource{obj("v1", "ConfigMap", "", "x", true), obj("v1", "ConfigMap", "team", "x", true)}, errdefs.ErrInvalid, "rendered twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := guardTenancy(app, tc.rs)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("guardTenancy() = %v, want %v containing %q", err, tc.class, tc.want)
			}
		})
	}
}

// parsed returns the resource of one YAML object.
func parsed(t *testing.T, y string, namespaced bool) *resource {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &resource{obj: &unstructured.Unstructured{Object: m}, source: "x.yaml", namespaced: namespaced}
}

// TestGuardIdentities: what a hostile repository can do with bindings, ServiceAccounts and its
// Namespace, and what passes.
func TestGuardIdentities(t *testing.T) {
	t.Parallel()
	app := App{Name: "web", Namespace: "team", AllowRoles: []string{"view"}, ServiceAccounts: []string{"platform-sa"},
		AllowClusterKinds: []string{"Namespace", "ClusterRoleBinding.rbac.authorization.k8s.io"}}
	rb := func(roleKind, role, subjects string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: " +
			roleKind + ", name: " + role + "}\nsubjects: " + subjects + "\n"
	}
	deploy := func(spec string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: " + spec + "}}\n"
	}
	sa := "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: own}\n"
	for _, tc := range []struct {
		name string
		objs []string
		want string // "" = allowed
	}{
		{"binding a Role of the namespace to an own ServiceAccount", []string{rb("Role", "r", "[{kind: ServiceAccount, name: own}]")}, ""},
		{"binding an allowed ClusterRole to a person", []string{rb("ClusterRole", "view", "[{kind: User, name: alice@example.com, apiGroup: rbac.authorization.k8s.io}]")}, ""},
		{"binding cluster-admin", []string{rb("ClusterRole", "cluster-admin", "[{kind: ServiceAccount, name: own}]")},
			"RoleBinding/team/rb (role ClusterRole cluster-admin is not in the app's allowRoles)"},
		{"a ServiceAccount of another namespace", []string{rb("Role", "r", "[{kind: ServiceAccount, name: tagrelay-reconciler, namespace: tagrelay-system}]")},
			"subject ServiceAccount tagrelay-system/tagrelay-reconciler is outside namespace team"},
		{"its User form", []string{rb("Role", "r", "[{kind: User, name: 'system:serviceaccount:kube-system:default'}]")},
			"subject User system:serviceaccount:kube-system:default is a ServiceAccount outside namespace team"},
		{"every authenticated user", []string{rb("ClusterRole", "view", "[{kind: Group, name: 'system:authenticated'}]")},
			"subject Group system:authenticated reaches beyond namespace team"},
		{"the namespace's own ServiceAccount group", []string{rb("ClusterRole", "view", "[{kind: Group, name: 'system:serviceaccounts:team'}]")}, ""},
		{"a ClusterRoleBinding of a ServiceAccount without namespace", []string{"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: own}]\n"},
			"ClusterRoleBinding/crb (subject ServiceAccount /own is outside namespace team)"},
		{"a Deployment as default", []string{deploy("{containers: []}")}, ""},
		{"a Deployment as a rendered ServiceAccount", []string{sa, deploy("{serviceAccountName: own}")}, ""},
		{"a Deployment as a listed ServiceAccount", []string{deploy("{serviceAccountName: platform-sa}")}, ""},
		{"a Deployment as a foreign ServiceAccount", []string{deploy("{serviceAccountName: deployer}")},
			"Deployment/team/d (runs as ServiceAccount deployer, which the app neither renders nor lists in serviceAccounts)"},
		{"the deprecated field", []string{deploy("{serviceAccountName: default, serviceAccount: deployer}")}, "runs as ServiceAccount deployer"},
		{"a CronJob", []string{"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {serviceAccountName: deployer}}}}}\n"},
			"CronJob/team/c (runs as ServiceAccount deployer"},
		{"a token of a foreign ServiceAccount", []string{"apiVersion: v1\nkind: Secret\nmetadata: {name: t, annotations: {kubernetes.io/service-account.name: deployer}}\ntype: kubernetes.io/service-account-token\n"},
			"Secret/team/t (mints a token of ServiceAccount deployer"},
		{"another Namespace", []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n"}, "Namespace/other (the app's namespace is team)"},
		{"a privileged Namespace", []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: team, labels: {pod-security.kubernetes.io/enforce: privileged}}\n"},
			"Namespace/team (pod-security.kubernetes.io/enforce: privileged is weaker than the app's podSecurity baseline)"},
		{"a restricted Namespace", []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: team, labels: {pod-security.kubernetes.io/enforce: restricted}}\n"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rs []*resource
			for _, o := range tc.objs {
				r := parsed(t, o, true)
				if k := r.gk().Kind; k == "Namespace" || k == "ClusterRoleBinding" {
					r.namespaced = false
				}
				rs = append(rs, r)
			}
			err := guardTenancy(app, rs)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("guardTenancy() = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrTenancy) || !errors.Is(err, errdefs.ErrPrecondition) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("guardTenancy() = %v, want ErrTenancy containing %q", err, tc.want)
			}
		})
	}
	ns := parsed(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n", false)
	if err := guardTenancy(app, []*resource{ns}); err != nil || ns.obj.GetLabels()[PodSecurityLabel] != "baseline" {
		t.Errorf("a rendered Namespace without a level: %v, labels %v; want %s=baseline", err, ns.obj.GetLabels(), PodSecurityLabel)
	}
}

func TestPollDeployed(t *testing.T) {
	t.Parallel()
	changed := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "example.com/web:v1", After: "example.com/web:v2"}}
	same := []api.ImageChange{{Object: "Deployment/ns/web", Container: "web", Before: "example.com/web:v2", After: "example.com/web:v2"}}
	poll := func(rev string, st api.Status, images []api.ImageChange) Result {
		return Result{Trigger: TriggerPoll, Revision: rev, Status: st, Images: images}
	}
	for _, tc := range []struct {
		name    string
		history []Result
		rev     string
		expect  string
		want    bool
	}{
		{"poll of this revision deployed the image", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v2", true},
		{"without an expected image, any change", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "", true},
		{"canonical names compare", []Result{poll("abc", api.StatusSucceeded, []api.ImageChange{{Before: "nginx:1", After: "nginx:2"}})}, "abc", "docker.io/library/nginx:2", true},
		{"another image", []Result{poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v3", false},
		{"another revision", []Result{poll("abc", api.StatusSucceeded, changed)}, "def", "example.com/web:v2", false},
		{"the poll changed nothing", []Result{poll("abc", api.StatusSucceeded, same)}, "abc", "", false},
		{"the poll failed", []Result{poll("abc", api.StatusFailed, changed)}, "abc", "example.com/web:v2", false},
		{"a trigger already claimed it", []Result{{Trigger: TriggerAPI, Revision: "abc", Status: api.StatusSucceeded}, poll("abc", api.StatusSucceeded, changed)}, "abc", "example.com/web:v2", false},
		{"no history", nil, "abc", "", false},
		{"a sync resumed after a failover deployed it", []Result{{Trigger: TriggerAPI, ResumedFrom: "host_a1b2", Revision: "abc", Status: api.StatusSucceeded, Images: changed}}, "abc", "example.com/web:v2", true},
		{"a resumed sync of another revision", []Result{{Trigger: TriggerAPI, ResumedFrom: "host_a1b2", Revision: "abc", Status: api.StatusSucceeded, Images: changed}}, "def", "example.com/web:v2", false},
	} {
		if got := pollDeployed(tc.history, tc.rev, tc.expect); got != tc.want {
			t.Errorf("%s: pollDeployed() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
