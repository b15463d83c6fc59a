package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
)

// TestRBACHolds runs the reconciler as the ServiceAccount of deploy/ with the RBAC that
// `tagrelay-reconciler rbac` generates (a token of the ServiceAccount in its kubeconfig): it
// deploys a plain app with its own Role, RoleBinding and ServiceAccount and a Helm chart; with
// the tenancy guard switched off, the API server still refuses a write into another namespace
// and a binding to cluster-admin; and what the identity may do (SelfSubjectRulesReview, what
// `kubectl auth can-i --list` prints) has no exec, attach or token, and no cluster-wide write.
func TestRBACHolds(t *testing.T) {
	c := kubetest.Shared(t)
	t.Parallel()
	ctx := context.Background()
	sys, web, api, victim := kubetest.Namespace(t, c), kubetest.Namespace(t, c), kubetest.Namespace(t, c), kubetest.Namespace(t, c)
	admin, err := reconcile.New(c.RESTConfig(), reconcile.Options{Namespace: sys})
	if err != nil {
		t.Fatal(err)
	}
	applyDeploy(t, admin, sys)

	git := gittest.New(t)
	git.MustCreateRepo(t, "infra")
	git.MustCommit(t, "infra", "main", "apps", map[string]string{
		"web/deploy.yaml": strings.Replace(deploymentYAML("web", "example.com/web:v1"), "    spec:\n", "    spec:\n      serviceAccountName: web\n", 1),
		"web/config.yaml": configMapYAML("web-config") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
		"web/rbac.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n---\n" +
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: web-config}\nrules: [{apiGroups: [''], resources: [configmaps], verbs: [get]}]\n---\n" +
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: web-config}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web-config}\nsubjects: [{kind: ServiceAccount, name: web}]\n---\n" +
			"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: web-view}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: web}]\n",
		"api/Chart.yaml":            "apiVersion: v2\nname: api\nversion: 0.1.0\n",
		"api/values.yaml":           "image: example.com/api:v1\n",
		"api/templates/deploy.yaml": `{{ if .Capabilities.APIVersions.Has "apps/v1/Deployment" }}` + strings.Replace(deploymentYAML("api", "{{ .Values.image }}"), "replicas: 2", "replicas: 1", 1) + "{{ end }}",
		"hostile/cm.yaml":           strings.Replace(configMapYAML("planted"), "name: planted", "name: planted\n  namespace: "+victim, 1),
		"escalate/rb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: take-over}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: default}]\n",
	})
	app := func(name, path, ns string) reconcile.App {
		return reconcile.App{Name: name, Repo: git.RepoURL("infra"), Path: path, Namespace: ns, SharedNamespace: true,
			AllowRoles: []string{"view"}, Timeout: reconcile.Duration(time.Minute)}
	}
	cfg := &reconcile.Config{Apps: []reconcile.App{app("web", "web", web), app("api", "api", api),
		app("hostile", "hostile", web), app("escalate", "escalate", web)}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	objs, err := reconcile.RBAC(cfg, reconcile.RBACOptions{Namespace: sys, Mapper: admin.RESTMapper()})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.ApplyRBAC(ctx, objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteClusterScoped(c.RESTConfig(), objs) })

	sa := serviceAccountConfig(t, c.RESTConfig(), sys)
	r, err := reconcile.New(sa, reconcile.Options{Namespace: sys, CacheDir: t.TempDir(), PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Apps[:2] {
		res, err := r.Sync(ctx, a, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI})
		if err != nil {
			t.Fatalf("Sync(%s) as the ServiceAccount = %v", a.Name, err)
		}
		t.Logf("%s as the ServiceAccount: %s, %v", a.Name, res.Status, res.Summary())
	}

	reconcile.WithoutTenancyGuard(r)
	for _, a := range cfg.Apps[2:] {
		_, err := r.Sync(ctx, a, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI})
		t.Logf("%s without the tenancy guard: %v", a.Name, err)
		if !errors.Is(err, errdefs.ErrPrecondition) || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("Sync(%s) without the guard = %v, want the API server's refusal", a.Name, err)
		}
	}
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := cs.CoreV1().ConfigMaps(victim).Get(ctx, "planted", metav1.GetOptions{}); err == nil {
		t.Errorf("the ServiceAccount wrote ConfigMap planted into namespace %s", victim)
	}
	if _, err := cs.RbacV1().RoleBindings(web).Get(ctx, "take-over", metav1.GetOptions{}); err == nil {
		t.Errorf("the ServiceAccount bound cluster-admin in namespace %s", web)
	}
	checkRules(t, sa, map[string][]string{web: {"*"}, api: {"*"}, sys: {"configmaps", "leases"}, victim: nil, "default": nil})
}

// selfReviews are the "what may I do" reviews every authenticated user may create
// (system:basic-user): asking is no write.
var selfReviews = []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}

// checkRules asks what the identity of cfg may do in each namespace, given the resources it
// may write there ("*": an app's namespace, any): never exec, attach, port-forward, proxy or
// mint tokens, nowhere a wildcard; elsewhere no write, except on objects named one by one.
func checkRules(t *testing.T, cfg *rest.Config, namespaces map[string][]string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(cfg)
	for ns, writable := range namespaces {
		review, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(context.Background(),
			&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var denied []string
		for _, rule := range review.Status.ResourceRules {
			for _, res := range rule.Resources {
				if res == "*" || strings.Contains(res, "/") || slices.Contains(rule.Verbs, "*") || slices.Contains(rule.APIGroups, "*") {
					t.Errorf("namespace %s: rule %+v grants %s", ns, rule, res)
				}
			}
			writes := slices.ContainsFunc(rule.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
			for _, res := range rule.Resources {
				if writes && len(rule.ResourceNames) == 0 && !slices.Contains(writable, "*") && !slices.Contains(writable, res) && !slices.Contains(selfReviews, res) {
					denied = append(denied, fmt.Sprintf("%v %s", rule.Verbs, res))
				}
			}
		}
		if len(denied) > 0 {
			t.Errorf("namespace %s: the ServiceAccount may %s", ns, strings.Join(denied, ", "))
		}
		if testing.Verbose() {
			b, _ := json.Marshal(review.Status.ResourceRules)
			t.Logf("can-i --list in %s: %s", ns, b)
		}
	}
}

// applyDeploy applies the ServiceAccount and RBAC of deploy/ into ns (its cluster-scoped
// objects renamed after ns, so tests do not share them).
func applyDeploy(t *testing.T, admin *reconcile.Reconciler, ns string) {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../deploy")
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	for _, res := range m.Resources() {
		obj, err := res.Map()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		switch u.GetKind() {
		case "ServiceAccount", "Role", "RoleBinding":
			u.SetNamespace(ns)
		case "ClusterRole", "ClusterRoleBinding":
			u.SetName(u.GetName() + "-" + ns)
		default:
			continue
		}
		if ref, ok := u.Object["roleRef"].(map[string]any); ok && ref["kind"] == "ClusterRole" {
			ref["name"] = ref["name"].(string) + "-" + ns
		}
		if subjects, ok := u.Object["subjects"].([]any); ok {
			for _, s := range subjects {
				s.(map[string]any)["namespace"] = ns
			}
		}
		objs = append(objs, u)
	}
	if err := admin.ApplyRBAC(context.Background(), objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteClusterScoped(kubetest.Shared(t).RESTConfig(), objs) })
}

// serviceAccountConfig is a client of the cluster that authenticates with a token of
// ns/tagrelay-reconciler, as the reconciler's pod does.
func serviceAccountConfig(t *testing.T, admin *rest.Config, ns string) *rest.Config {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(admin)
	expiry := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), "tagrelay-reconciler",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

func deleteClusterScoped(admin *rest.Config, objs []*unstructured.Unstructured) {
	cs := kubernetes.NewForConfigOrDie(admin)
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), o.GetName(), metav1.DeleteOptions{})
		case "ClusterRoleBinding":
			_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), o.GetName(), metav1.DeleteOptions{})
		}
	}
}
