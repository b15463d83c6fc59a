package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/yamltest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// TestPrune: an object the app stops rendering is deleted; objects it never owned, or no
// longer owns, stay.
func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app, other := f.app("a", "a"), f.app("b", "b")
	f.commit(map[string]string{
		"a/objs.yaml": configMapYAML("a-keep") + "---\n" + configMapYAML("a-gone") + "---\n" +
			configMapYAML("a-relabelled") + "---\n" + configMapYAML("a-unlabelled"),
		"b/objs.yaml": configMapYAML("b-own"),
	})
	f.mustSync(app, reconcile.SyncOptions{AllowNoop: true})
	f.mustSync(other, reconcile.SyncOptions{AllowNoop: true})
	manual := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "manual"}}
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone hands a-relabelled over to app b, and strips the label from a-unlabelled.
	for name, patch := range map[string]string{
		"a-relabelled": `{"metadata":{"labels":{"tagrelay.dev/app":"b"}}}`,
		"a-unlabelled": `{"metadata":{"labels":{"tagrelay.dev/app":null}}}`,
	} {
		if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	f.commit(map[string]string{"a/objs.yaml": configMapYAML("a-keep")})
	res := f.mustSync(app, reconcile.SyncOptions{AllowNoop: true})

	want := []string{"ConfigMap/a-keep", "ConfigMap/a-relabelled", "ConfigMap/a-unlabelled", "ConfigMap/b-own", "ConfigMap/manual"}
	if diff := cmp.Diff(want, f.objectNames()); diff != "" {
		t.Errorf("objects after prune (-want +got):\n%s", diff)
	}
	actions := map[string]api.Action{}
	for _, o := range res.Objects {
		actions[strings.TrimPrefix(o.Object, "ConfigMap/"+f.ns+"/")] = o.Action
	}
	wantActions := map[string]api.Action{"a-keep": api.ActionUnchanged, "a-gone": api.ActionPruned,
		"a-relabelled": api.ActionSkipped, "a-unlabelled": api.ActionSkipped}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("sync actions (-want +got):\n%s", diff)
	}
}

// TestPruneSafety: what leaves the render is pruned only when it is safe: a Namespace, a CRD
// and a PVC are kept with a warning unless the app allows them, an annotated object is kept,
// and a sync that would prune 80 % of the app is refused unless forced.
func TestPruneSafety(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	group := strings.ReplaceAll(f.ns, "-", "") + ".example.com"
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gizmos." + group + "}\nspec:\n  group: " + group +
		"\n  scope: Namespaced\n  names: {plural: gizmos, kind: Gizmo}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n"
	t.Cleanup(func() {
		_ = f.cs.Discovery().RESTClient().Delete().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos." + group).Do(context.Background()).Error()
	})
	cms := func(names ...string) string {
		var docs []string
		for _, n := range names {
			docs = append(docs, configMapYAML(n))
		}
		return strings.Join(docs, "---\n")
	}
	app := f.app("a", "")
	app.AllowClusterKinds = []string{"Namespace", "CustomResourceDefinition.apiextensions.k8s.io"}
	f.commit(map[string]string{"crd.yaml": crd, "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + f.ns + "}\n",
		"pvc.yaml":  "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
		"kept.yaml": strings.Replace(configMapYAML("kept"), "metadata:\n", "metadata:\n  annotations: {tagrelay.dev/prune: disabled}\n", 1),
		"cms.yaml":  cms("c1", "c2", "c3", "c4", "c5")})
	// The test's namespace exists unlabelled: adopt it. The PVC stays Pending without storage.
	f.mustSync(app, reconcile.SyncOptions{AllowNoop: true, Adopt: true, NoWait: true})

	// The Namespace, the CRD, the PVC and the annotated ConfigMap leave git: all kept.
	f.commit(map[string]string{"crd.yaml": "", "pvc.yaml": "", "ns.yaml": "", "kept.yaml": ""})
	res := f.mustSync(app, reconcile.SyncOptions{AllowNoop: true, NoWait: true})
	for _, want := range []string{"kept CustomResourceDefinition/gizmos." + group + " (a CustomResourceDefinition is never pruned unless the app lists it in allowPrune)",
		"kept PersistentVolumeClaim/" + f.ns + "/data (a PersistentVolumeClaim is never pruned", "kept Namespace/" + f.ns + " (a Namespace is never pruned",
		"kept ConfigMap/" + f.ns + "/kept (annotated tagrelay.dev/prune: disabled)"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("result message %q lacks %q", res.Message, want)
		}
	}
	if _, err := f.cs.CoreV1().PersistentVolumeClaims(f.ns).Get(ctx, "data", metav1.GetOptions{}); err != nil {
		t.Errorf("the PVC was pruned: %v", err)
	}
	if _, err := f.cs.Discovery().RESTClient().Get().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos." + group).Do(ctx).Raw(); err != nil {
		t.Errorf("the CRD was pruned: %v", err)
	}
	if got, want := f.objectNames(), []string{"ConfigMap/c1", "ConfigMap/c2", "ConfigMap/c3", "ConfigMap/c4", "ConfigMap/c5", "ConfigMap/kept"}; !cmp.Equal(got, want) {
		t.Errorf("ConfigMaps = %v, want %v", got, want)
	}

	// 4 of the 5 objects left (80 %) leave git: refused, nothing deleted; forced, they go.
	f.commit(map[string]string{"cms.yaml": cms("c1")})
	res, err := f.sync(app, reconcile.SyncOptions{AllowNoop: true, NoWait: true})
	wantErr(t, res, err, reconcile.ErrPruneLimit, exitcode.Precondition)
	if want := "would prune 4 of the 5 objects of app a (80%), more than its limit of 50%: ConfigMap/" + f.ns + "/c2, "; !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q lacks %q", err, want)
	}
	if got := f.objectNames(); len(got) != 6 {
		t.Errorf("a refused prune deleted objects: %v", got)
	}
	res = f.mustSync(app, reconcile.SyncOptions{AllowNoop: true, NoWait: true, ForcePrune: true})
	if got, want := f.objectNames(), []string{"ConfigMap/c1", "ConfigMap/kept"}; !cmp.Equal(got, want) || res.Summary()[api.ActionPruned] != 4 {
		t.Errorf("forced prune: objects %v, %d pruned; want %v, 4", got, res.Summary()[api.ActionPruned], want)
	}
}

// TestRefusedBeforeApplying: guards and bad input fail the sync with a clear error and nothing
// is applied — not even the valid objects next to the offending one.
func TestRefusedBeforeApplying(t *testing.T) {
	valid := configMapYAML("valid") + "---\n"
	for _, tc := range []struct {
		name     string
		files    map[string]string
		repo     string // overrides the repository URL
		sentinel error
		class    error
		message  string
	}{
		{name: "other namespace", files: map[string]string{"x.yaml": valid + strings.Replace(configMapYAML("evil"), "name: evil", "name: evil\n  namespace: kube-system", 1)},
			sentinel: reconcile.ErrTenancy, class: errdefs.ErrPrecondition, message: "ConfigMap/kube-system/evil (namespace kube-system)"},
		{name: "cluster role", files: map[string]string{"x.yaml": valid + "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: evil}\nrules: []\n"},
			sentinel: reconcile.ErrTenancy, class: errdefs.ErrPrecondition, message: "ClusterRole/evil (cluster-scoped ClusterRole.rbac.authorization.k8s.io)"},
		{name: "invalid yaml", files: map[string]string{"a.yaml": valid, "b.yaml": "kind: ConfigMap\nmetadata: [oops\n"},
			sentinel: reconcile.ErrRender, class: errdefs.ErrInvalid, message: "b.yaml: document 1"},
		{name: "unknown kind", files: map[string]string{"x.yaml": valid + "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"},
			sentinel: reconcile.ErrUnknownKind, class: errdefs.ErrInvalid, message: "example.com/v1 Widget (x.yaml)"},
		{name: "unknown field", files: map[string]string{"x.yaml": valid + strings.Replace(deploymentYAML("web", "example.com/web:v1"), "replicas: 2", "replicaz: 2", 1)},
			sentinel: errdefs.ErrInvalid, class: errdefs.ErrInvalid, message: ".spec.replicaz: field not declared in schema"},
		{name: "helm render error", files: map[string]string{"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
			"templates/a.yaml": valid, "templates/b.yaml": "{{ required \"tag is required\" .Values.tag }}\n"},
			sentinel: reconcile.ErrRender, class: errdefs.ErrInvalid, message: "tag is required"},
		{name: "unreachable repo", files: map[string]string{"x.yaml": valid}, repo: "http://127.0.0.1:1/infra.git",
			sentinel: errdefs.ErrUnavailable, class: errdefs.ErrUnavailable, message: "http://127.0.0.1:1/infra.git"},
		{name: "binding to cluster-admin", files: map[string]string{"x.yaml": valid + "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: take-over}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: default}]\n"},
			sentinel: reconcile.ErrTenancy, class: errdefs.ErrPrecondition, message: "take-over (role ClusterRole cluster-admin is not in the app's allowRoles)"},
		{name: "foreign ServiceAccount", files: map[string]string{"x.yaml": valid + strings.Replace(deploymentYAML("web", "example.com/web:v1"),
			"    spec:\n", "    spec:\n      serviceAccountName: tagrelay-reconciler\n", 1)},
			sentinel: reconcile.ErrTenancy, class: errdefs.ErrPrecondition, message: "Deployment/NS/web (runs as ServiceAccount tagrelay-reconciler, which the app neither renders nor lists in serviceAccounts)"},
		{name: "alias bomb", files: map[string]string{"a.yaml": valid, "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata:\n" + yamltest.Laughs("  ", 5)},
			sentinel: render.ErrAliasBomb, class: errdefs.ErrInvalid, message: "b.yaml: its YAML aliases expand to more than 10000 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.commit(tc.files)
			app := f.app("x", "")
			if tc.repo != "" {
				app.Repo = tc.repo
			}
			res, err := f.sync(app, reconcile.SyncOptions{AllowNoop: true})
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, tc.class) {
				t.Fatalf("Sync() = %v, want %v (%v)", err, tc.sentinel, tc.class)
			}
			if msg := strings.ReplaceAll(tc.message, "NS", f.ns); !strings.Contains(err.Error(), msg) {
				t.Errorf("Sync() error %q does not contain %q", err, tc.message)
			}
			if res.ExitCode != exitcode.Code(err) || res.Status == api.StatusSucceeded {
				t.Errorf("result: status %s, exit %d", res.Status, res.ExitCode)
			}
			if got := f.objectNames(); len(got) != 0 {
				t.Errorf("objects applied despite the refusal: %v", got)
			}
			if strings.Contains(err.Error(), gitToken) {
				t.Errorf("error leaks the git token: %v", err)
			}
		})
	}
}

// TestAdopt: an existing object without the owner label is not taken over without Adopt.
func TestAdopt(t *testing.T) {
	f := newFixture(t)
	existing := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Data: map[string]string{"k": "mine"}}
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Create(context.Background(), existing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.commit(map[string]string{"x.yaml": configMapYAML("shared")})
	app := f.app("x", "")
	res, err := f.sync(app, reconcile.SyncOptions{AllowNoop: true})
	wantErr(t, res, err, reconcile.ErrNotOwned, exitcode.Precondition)
	cm, _ := f.cs.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "shared", metav1.GetOptions{})
	if cm.Data["k"] != "mine" {
		t.Errorf("refused sync changed the object: %v", cm.Data)
	}
	f.mustSync(app, reconcile.SyncOptions{AllowNoop: true, Adopt: true})
	cm, _ = f.cs.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "shared", metav1.GetOptions{})
	if cm.Data["k"] != "v" || cm.Labels[reconcile.OwnerLabel] != "x" {
		t.Errorf("adopted object: data %v labels %v", cm.Data, cm.Labels)
	}
}

// TestDryRun shows a readable diff and writes nothing; Secret values are never shown.
func TestDryRun(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2-old}\n"
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1"), "s.yaml": secret})
	f.mustSync(app, reconcile.SyncOptions{})
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v2"),
		"s.yaml": strings.Replace(secret, "hunter2-old", "hunter2-new", 1)})
	res, err := f.sync(app, reconcile.SyncOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	diffs := map[string]string{}
	for _, o := range res.Objects {
		diffs[o.Object] = o.Diff
	}
	d := diffs["Deployment/"+f.ns+"/web"]
	if !strings.Contains(d, "-      - image: example.com/web:v1") || !strings.Contains(d, "+      - image: example.com/web:v2") {
		t.Errorf("Deployment diff does not show the image change:\n%s", d)
	}
	s := diffs["Secret/"+f.ns+"/creds"]
	if s == "" || strings.Contains(s, "hunter2") || strings.Contains(s, "aHVudGVyM") {
		t.Errorf("Secret diff is empty or shows the value:\n%s", s)
	}
	if got := f.deployment("web").Spec.Template.Spec.Containers[0].Image; got != "example.com/web:v1" {
		t.Errorf("dry run changed the image to %s", got)
	}
	if res.Status != api.StatusDryRun {
		t.Errorf("dry run status = %s", res.Status)
	}
}

// TestCRDAndJob: a CRD and a resource of its kind in one render (the CRD is applied first and
// served before the resource), and a Job waited for until it completes.
func TestCRDAndJob(t *testing.T) {
	f := newFixture(t)
	group := strings.ReplaceAll(f.ns, "-", "") + ".example.com"
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.` + group + `}
spec:
  group: ` + group + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`
	job := `apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: example.com/migrate:v1}]
`
	f.commit(map[string]string{"crd.yaml": crd, "widget.yaml": "apiVersion: " + group + "/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n", "job.yaml": job})
	app := f.app("x", "")
	app.AllowClusterKinds = []string{"CustomResourceDefinition.apiextensions.k8s.io"}
	t.Cleanup(func() {
		_ = f.cs.Discovery().RESTClient().Delete().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets." + group).Do(context.Background()).Error()
	})
	res := f.mustSync(app, reconcile.SyncOptions{})
	if got := res.Summary()[api.ActionCreated]; got != 3 {
		t.Errorf("created %d objects, want 3: %v", got, res.Objects)
	}
	j, err := f.cs.BatchV1().Jobs(f.ns).Get(context.Background(), "migrate", metav1.GetOptions{})
	if err != nil || j.Status.Succeeded != 1 {
		t.Errorf("Job after sync: succeeded %d, %v; the sync should have waited for completion", j.Status.Succeeded, err)
	}
}

// TestCRDInstalledLater: a reconciler that discovered the API before a CRD was installed still
// applies resources of the new kind.
func TestCRDInstalledLater(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.commit(map[string]string{"a/c.yaml": configMapYAML("c")})
	f.mustSync(f.app("a", "a"), reconcile.SyncOptions{AllowNoop: true}) // discovery is cached now

	group := strings.ReplaceAll(f.ns, "-", "") + ".example.com"
	crd := &unstructured.Unstructured{}
	crd.SetUnstructuredContent(map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "gadgets." + group},
		"spec": map[string]any{"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}},
	})
	crds := dynamic.NewForConfigOrDie(kubetest.Shared(t).RESTConfig()).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{}) })

	f.commit(map[string]string{"b/g.yaml": "apiVersion: " + group + "/v1\nkind: Gadget\nmetadata: {name: g}\n"})
	var err error
	for range 50 { // the CRD takes a moment to be served
		if _, err = f.sync(f.app("b", "b"), reconcile.SyncOptions{AllowNoop: true}); !errors.Is(err, reconcile.ErrUnknownKind) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Sync() of a Gadget = %v", err)
	}
}
