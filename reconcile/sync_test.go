package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestDeployBumpNoopRestart walks a plain app through its life: deploy, bump, same tag again
// (refused), restart, and checks the cluster after each step.
func TestDeployBumpNoopRestart(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "apps/web")
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"),
		"apps/web/config.yaml": configMapYAML("web-config")})

	res := f.mustSync(app, reconcile.SyncOptions{})
	if got, want := f.readyImages(), map[string]int{"example.com/web:v1": 2}; !cmp.Equal(got, want) {
		t.Errorf("after first sync: ready pods by image = %v, want %v", got, want)
	}
	if res.Status != api.StatusSucceeded || res.Summary()[api.ActionCreated] != 2 {
		t.Errorf("first sync: status %s, summary %v, want Succeeded with 2 created", res.Status, res.Summary())
	}

	// A tag bump rolls out a new ReplicaSet whose pods are Ready on the new image.
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v2")})
	res = f.mustSync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:v2"})
	if got, want := f.readyImages(), map[string]int{"example.com/web:v2": 2}; !cmp.Equal(got, want) {
		t.Errorf("after bump: ready pods by image = %v, want %v", got, want)
	}
	if n := f.replicaSets(); n != 2 {
		t.Errorf("after bump: %d ReplicaSets, want 2", n)
	}
	wantImages := []api.ImageChange{{Object: "Deployment/" + f.ns + "/web", Container: "web", Before: "example.com/web:v1", After: "example.com/web:v2"}}
	if diff := cmp.Diff(wantImages, res.Images); diff != "" {
		t.Errorf("bump result images (-want +got):\n%s", diff)
	}

	// The same tag again, with a change that reaches no pod (a Deployment annotation): refused,
	// nothing written. (A ConfigMap change is applied: see TestConfigChange.)
	gen := f.deployment("web").Generation
	annotated := strings.Replace(deploymentYAML("web", "example.com/web:v2"), "  name: web\n", "  name: web\n  annotations: {note: changed}\n", 1)
	f.commit(map[string]string{"apps/web/deploy.yaml": annotated})
	res, err := f.sync(app, reconcile.SyncOptions{})
	wantErr(t, res, err, reconcile.ErrNoImageChange, exitcode.Noop)
	if !strings.Contains(err.Error(), "web=example.com/web:v2") {
		t.Errorf("no-op error %q does not name the unchanged image", err)
	}
	if d := f.deployment("web"); d.Generation != gen || d.Annotations["note"] != "" {
		t.Errorf("refused no-op: generation %d -> %d, annotations %v", gen, d.Generation, d.Annotations)
	}
	if n := f.replicaSets(); n != 2 {
		t.Errorf("refused no-op: %d ReplicaSets, want 2", n)
	}
	res, err = f.sync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:v2"})
	wantErr(t, res, err, reconcile.ErrExpectedImage, exitcode.Noop)

	// --restart rolls the workloads: a new ReplicaSet, and the next apply keeps the annotation.
	f.mustSync(app, reconcile.SyncOptions{Restart: true})
	if n := f.replicaSets(); n != 3 {
		t.Errorf("after restart: %d ReplicaSets, want 3", n)
	}
	restartedAt := f.deployment("web").Spec.Template.Annotations[reconcile.RestartedAtAnnotation]
	if restartedAt == "" {
		t.Fatalf("after restart: no %s annotation", reconcile.RestartedAtAnnotation)
	}
	f.mustSync(app, reconcile.SyncOptions{AllowNoop: true})
	if got := f.deployment("web").Spec.Template.Annotations[reconcile.RestartedAtAnnotation]; got != restartedAt {
		t.Errorf("a later apply changed %s: %q -> %q", reconcile.RestartedAtAnnotation, restartedAt, got)
	}
	if n := f.replicaSets(); n != 3 {
		t.Errorf("after allow-noop sync: %d ReplicaSets, want 3", n)
	}

	hist, err := f.r.History(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []api.Status
	for _, h := range hist {
		statuses = append(statuses, h.Status)
	}
	want := []api.Status{api.StatusSucceeded, api.StatusSucceeded, api.StatusNoopRefused, api.StatusNoopRefused, api.StatusSucceeded, api.StatusSucceeded}
	if diff := cmp.Diff(want, statuses); diff != "" {
		t.Errorf("history statuses, newest first (-want +got):\n%s", diff)
	}
}

// TestKustomizeAndHelm deploys a Kustomize overlay and a Helm chart with values files, then
// bumps each.
func TestKustomizeAndHelm(t *testing.T) {
	chart := map[string]string{
		"charts/web/Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"charts/web/values.yaml": "image: {repository: example.com/web, tag: v0}\nreplicas: 1\n",
		"charts/web/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
		"charts/web/prod.yaml": "replicas: 2\n",
		"charts/web/templates/migrate.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: {helm.sh/hook: pre-upgrade}}\n" +
			"spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: example.com/migrate:v1}]}}}\n",
	}
	for _, tc := range []struct {
		name   string
		files  func(tag string) map[string]string
		path   string
		values []string
	}{
		{
			name: "kustomize",
			path: "overlays/prod",
			files: func(tag string) map[string]string {
				return map[string]string{
					"base/kustomization.yaml":          "resources: [deploy.yaml]\n",
					"base/deploy.yaml":                 deploymentYAML("web", "example.com/web:v0"),
					"overlays/prod/kustomization.yaml": "resources: [../../base]\nimages:\n- name: example.com/web\n  newTag: " + tag + "\n",
				}
			},
		},
		{
			name:   "helm",
			path:   "charts/web",
			values: []string{"prod.yaml", "tag.yaml"},
			files: func(tag string) map[string]string {
				files := map[string]string{"charts/web/tag.yaml": "image: {tag: " + tag + "}\n"}
				for k, v := range chart {
					files[k] = v
				}
				return files
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			app := f.app("web", tc.path)
			app.ValuesFiles = tc.values
			for _, tag := range []string{"v1", "v2"} {
				f.commit(tc.files(tag))
				res := f.mustSync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:" + tag})
				if tc.name == "helm" && res.Summary()[api.ActionHookSucceeded] != 1 {
					t.Errorf("%s: objects %+v: the pre-upgrade hook Job/migrate did not run", tag, res.Objects)
				}
				got := f.readyImages()
				delete(got, "example.com/migrate:v1") // the hook's completed pod
				if want := map[string]int{"example.com/web:" + tag: 2}; !cmp.Equal(got, want) {
					t.Errorf("%s: ready pods by image = %v, want %v", tag, got, want)
				}
			}
			if n := f.replicaSets(); n != 2 {
				t.Errorf("%d ReplicaSets after a bump, want 2", n)
			}
		})
	}
}

// TestBrokenImage: a rollout that never becomes ready fails the sync with the reason and the
// pods' state, and the history records it.
func TestBrokenImage(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	f.commit(map[string]string{"deploy.yaml": deploymentYAML("web", "example.com/web:v1")})
	f.mustSync(app, reconcile.SyncOptions{})
	f.commit(map[string]string{"deploy.yaml": deploymentYAML("web", "example.com/web:broken")})
	res, err := f.sync(app, reconcile.SyncOptions{})
	wantErr(t, res, err, reconcile.ErrRollout, exitcode.Failure)
	t.Logf("rollout error: %v", err)
	for _, want := range []string{"Deployment/" + f.ns + "/web", "ProgressDeadlineExceeded", "CrashLoopBackOff"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rollout error does not mention %q: %v", want, err)
		}
	}
	hist, err := f.r.History(context.Background(), "web")
	if err != nil || len(hist) != 2 {
		t.Fatalf("History() = %d entries, %v; want 2", len(hist), err)
	}
	if h := hist[0]; h.Status != api.StatusFailed || !strings.Contains(h.Message, "ProgressDeadlineExceeded") ||
		h.Images[0].Before != "example.com/web:v1" || h.Images[0].After != "example.com/web:broken" {
		t.Errorf("history entry of the failed sync = %+v", h)
	}
}

// TestDriftRepaired: a no-change sync skips the dry run of objects whose configuration and
// owned fields did not change since the last apply, but a field someone else changed (kubectl
// edit, set image) is noticed and restored.
func TestDriftRepaired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := f.app("web", "")
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1"), "c.yaml": configMapYAML("c")})
	f.mustSync(app, reconcile.SyncOptions{})
	res := f.mustSync(app, reconcile.SyncOptions{AllowNoop: true})
	if got := res.Summary()[api.ActionUnchanged]; got != 2 {
		t.Errorf("no-change sync: %d unchanged, want 2 (%v)", got, res.Objects)
	}
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Patch(ctx, "c", "application/merge-patch+json", []byte(`{"data":{"k":"edited"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	img := `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.com/web:hotfix"}]}}}}`
	if _, err := f.cs.AppsV1().Deployments(f.ns).Patch(ctx, "web", "application/strategic-merge-patch+json", []byte(img), metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	res = f.mustSync(app, reconcile.SyncOptions{})
	if got := res.Summary()[api.ActionConfigured]; got != 2 {
		t.Errorf("sync after drift: %d configured, want 2 (%v)", got, res.Objects)
	}
	cm, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(ctx, "c", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "v" {
		t.Errorf("ConfigMap drift not repaired: %v, %v", cm.Data, err)
	}
	if got := f.deployment("web").Spec.Template.Spec.Containers[0].Image; got != "example.com/web:v1" {
		t.Errorf("image drift not repaired: %s", got)
	}
}

// TestTriggerAfterPollDeployed: a poll (or webhook) deploys the bumped commit before the
// pipeline's deploy job triggers it. That trigger succeeds once — the deploy did happen — and
// the next one of the same image is refused as usual.
func TestTriggerAfterPollDeployed(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "apps/web")
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1")})
	f.mustSync(app, reconcile.SyncOptions{})
	f.commit(map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v2")})
	poll, err := f.r.Sync(context.Background(), app, reconcile.SyncOptions{Trigger: reconcile.TriggerPoll})
	if err != nil || poll.Status != api.StatusSucceeded {
		t.Fatalf("poll: %v (%+v)", err, poll)
	}
	gen, sets := f.deployment("web").Generation, f.replicaSets()

	res := f.mustSync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:v2"})
	if res.Status != api.StatusSucceeded || !strings.Contains(res.Message, "already deployed by the") {
		t.Errorf("trigger after the poll: status %s, message %q; want Succeeded naming the poll", res.Status, res.Message)
	}
	if got := f.deployment("web").Generation; got != gen || f.replicaSets() != sets {
		t.Errorf("trigger after the poll changed the Deployment: generation %d -> %d", gen, got)
	}
	res, err = f.sync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:v2"})
	wantErr(t, res, err, reconcile.ErrExpectedImage, exitcode.Noop)
	res, err = f.sync(app, reconcile.SyncOptions{})
	wantErr(t, res, err, reconcile.ErrNoImageChange, exitcode.Noop)
}
