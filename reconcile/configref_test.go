package reconcile_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// configuredDeployment reads app-config through envFrom and a projected volume, and db (a
// Secret) through one env value.
const configuredDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.com/web:v1
        envFrom: [{configMapRef: {name: app-config}}]
        env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]
        volumeMounts: [{name: conf, mountPath: /etc/web}]
      volumes:
      - name: conf
        projected: {sources: [{configMap: {name: app-config}}]}
`

// TestConfigChange: a commit that changes only a ConfigMap the Deployment reads is applied and
// rolls the Deployment (a new ReplicaSet), and the history says why; one that changes a
// ConfigMap nobody reads is applied and restarts nothing, and says so; one that changes nothing
// is refused (exit 3).
func TestConfigChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := f.app("web", "")
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: one}\n"
	f.commit(map[string]string{"deploy.yaml": configuredDeployment, "app-config.yaml": configMapYAML("app-config"),
		"other.yaml": configMapYAML("other"), "db.yaml": secret})
	f.mustSync(app, reconcile.SyncOptions{})
	if n := f.replicaSets(); n != 1 {
		t.Fatalf("first sync: %d ReplicaSets, want 1", n)
	}

	f.commit(map[string]string{"app-config.yaml": configMapYAML("app-config") + "  k2: new\n"})
	res := f.mustSync(app, reconcile.SyncOptions{})
	if n := f.replicaSets(); n != 2 {
		t.Errorf("ConfigMap-only commit: %d ReplicaSets, want 2 (the Deployment rolls)", n)
	}
	if f.deployment("web").Spec.Template.Annotations[reconcile.RestartedAtAnnotation] == "" {
		t.Errorf("ConfigMap-only commit: no %s on the pod template", reconcile.RestartedAtAnnotation)
	}
	want := api.ObjectChange{Object: "Deployment/" + f.ns + "/web", Action: api.ActionRestarted, Reason: "config changed: ConfigMap/app-config"}
	if !hasObject(res.Objects, want) {
		t.Errorf("ConfigMap-only commit: objects %+v lack %+v", res.Objects, want)
	}
	hist, err := f.r.History(ctx, "web")
	if err != nil || len(hist) != 2 || !strings.Contains(hist[0].Message, "restarted: config changed: ConfigMap/app-config") {
		t.Fatalf("history after the ConfigMap-only commit: %d entries, newest %q, %v", len(hist), hist[0].Message, err)
	}

	// The restart annotation is tagrelay-restart's: the next apply leaves it alone, a Secret
	// change restarts again.
	f.commit(map[string]string{"db.yaml": strings.Replace(secret, "one", "two", 1)})
	res = f.mustSync(app, reconcile.SyncOptions{})
	if n := f.replicaSets(); n != 3 || !strings.Contains(res.Message, "restarted: config changed: Secret/db") {
		t.Errorf("Secret-only commit: %d ReplicaSets, message %q; want 3 and the Secret named", n, res.Message)
	}

	f.commit(map[string]string{"other.yaml": configMapYAML("other") + "  k2: new\n"})
	res = f.mustSync(app, reconcile.SyncOptions{})
	if n := f.replicaSets(); n != 3 || res.Summary()[api.ActionRestarted] != 0 {
		t.Errorf("unrelated ConfigMap: %d ReplicaSets, %d restarted; want 3, none", n, res.Summary()[api.ActionRestarted])
	}
	if !strings.Contains(res.Message, "nothing restarted for ConfigMap/other: no workload of the app reads it") {
		t.Errorf("unrelated ConfigMap: message %q does not say nothing was restarted", res.Message)
	}
	if res.Summary()[api.ActionConfigured] != 1 {
		t.Errorf("unrelated ConfigMap: objects %+v, want it configured", res.Objects)
	}

	f.commit(map[string]string{"README.md": "nothing rendered\n"})
	res, err = f.sync(app, reconcile.SyncOptions{})
	wantErr(t, res, err, reconcile.ErrNoImageChange, exitcode.Noop)
	if n := f.replicaSets(); n != 3 {
		t.Errorf("refused no-op: %d ReplicaSets, want 3", n)
	}
}

func hasObject(objs []api.ObjectChange, want api.ObjectChange) bool {
	for _, o := range objs {
		if o == want {
			return true
		}
	}
	return false
}

// TestConfigChangeKustomizeGenerator: a configMapGenerator change renames the ConfigMap (hash
// suffix), so the Deployment's template changes and it rolls by itself: the triggered sync passes,
// one new ReplicaSet, no restart annotation on top, the old ConfigMap pruned.
func TestConfigChangeKustomizeGenerator(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	deploy := strings.Replace(configuredDeployment, "        env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]\n", "", 1)
	kustomization := func(v string) string {
		return "resources: [deploy.yaml]\nconfigMapGenerator:\n- name: app-config\n  literals: [k=" + v + "]\n"
	}
	f.commit(map[string]string{"kustomization.yaml": kustomization("one"), "deploy.yaml": deploy})
	f.mustSync(app, reconcile.SyncOptions{})
	f.commit(map[string]string{"kustomization.yaml": kustomization("two")})
	res := f.mustSync(app, reconcile.SyncOptions{})
	if n := f.replicaSets(); n != 2 {
		t.Errorf("generator change: %d ReplicaSets, want 2", n)
	}
	if res.Summary()[api.ActionRestarted] != 0 || f.deployment("web").Spec.Template.Annotations[reconcile.RestartedAtAnnotation] != "" {
		t.Errorf("generator change: restarted on top of its own rollout: %+v", res.Objects)
	}
	if res.Summary()[api.ActionPruned] != 1 || res.Summary()[api.ActionCreated] != 1 {
		t.Errorf("generator change: objects %+v, want the new ConfigMap created and the old one pruned", res.Objects)
	}
}

// TestResumedSyncRestartsForConfig: a replica applies a ConfigMap-only commit and dies before
// it restarts the Deployment that reads it (simulated: the ConfigMap already has the commit's
// data, and the app's state carries that sync's in-flight mark with the restart it planned).
// The replica that runs the sync again sees no config change any more, yet restarts the
// Deployment, stamped with the first run's start; run again once more, it rolls nothing new.
func TestResumedSyncRestartsForConfig(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := f.app("web", "")
	f.commit(map[string]string{"deploy.yaml": configuredDeployment, "app-config.yaml": configMapYAML("app-config"),
		"db.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: one}\n"})
	f.mustSync(app, reconcile.SyncOptions{})
	v2 := f.commit(map[string]string{"app-config.yaml": configMapYAML("app-config") + "  k2: new\n"})

	// what the dead replica did: the ConfigMap applied, its mark left in the app's state
	cm, err := f.cs.CoreV1().ConfigMaps(f.ns).Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["k2"] = "new"
	if _, err := f.cs.CoreV1().ConfigMaps(f.ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	started := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	leaveInFlight := func(id string) {
		t.Helper()
		hist, err := f.cs.CoreV1().ConfigMaps(f.sys).Get(ctx, "tagrelay-history-web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mark := reconcile.InFlight{ID: id, Replica: "ghost_1", Started: started, Trigger: reconcile.TriggerAPI, Revision: v2,
			Restarts: map[string][]string{"Deployment/" + f.ns + "/web": {"ConfigMap/app-config"}}}
		// the record, and its summary that every replica reads
		withMark := func(raw string) string {
			var rec map[string]any
			if err := json.Unmarshal([]byte(raw), &rec); err != nil {
				t.Fatal(err)
			}
			rec["inFlight"] = mark
			b, _ := json.Marshal(rec)
			return string(b)
		}
		hist.Data["state.json"] = withMark(hist.Data["state.json"])
		hist.Annotations["tagrelay.dev/state"] = withMark(hist.Annotations["tagrelay.dev/state"])
		if _, err := f.cs.CoreV1().ConfigMaps(f.sys).Update(ctx, hist, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	leaveInFlight("0123456789abcdef")
	if n := f.replicaSets(); n != 1 {
		t.Fatalf("before the resume: %d ReplicaSets, want 1", n)
	}

	f.serve(reconcile.ServerOptions{Interval: 200 * time.Millisecond}, app) // its first poll finds the mark
	var hist []reconcile.Result
	waitFor(t, "the sync left in flight to run again", func() bool {
		hist, _ = f.r.History(ctx, "web")
		return len(hist) == 2 && hist[0].ID == "0123456789abcdef"
	})
	want := api.ObjectChange{Object: "Deployment/" + f.ns + "/web", Action: api.ActionRestarted} // the history keeps no reasons
	if hist[0].Status != api.StatusSucceeded || hist[0].ResumedFrom != "ghost_1" || !hasObject(hist[0].Objects, want) ||
		!strings.Contains(hist[0].Message, "web restarted: config changed: ConfigMap/app-config") {
		t.Fatalf("the resumed sync: %s %q, resumed from %q, objects %+v; want it to restart the Deployment", hist[0].Status, hist[0].Message, hist[0].ResumedFrom, hist[0].Objects)
	}
	if got, want := f.deployment("web").Spec.Template.Annotations[reconcile.RestartedAtAnnotation], started.Format(time.RFC3339Nano); got != want {
		t.Errorf("restartedAt = %q, want the first run's start %q", got, want)
	}
	if n := f.replicaSets(); n != 2 {
		t.Errorf("after the resume: %d ReplicaSets, want 2 (the Deployment rolled)", n)
	}

	// the same mark once more (the resuming replica died after its restart): nothing rolls again
	leaveInFlight("0123456789abcdef")
	waitFor(t, "the mark to be handled again", func() bool {
		st, err := f.r.State(ctx, "web")
		return err == nil && st.InFlight == nil
	})
	if n := f.replicaSets(); n != 2 {
		t.Errorf("the restart repeated with its stamp made %d ReplicaSets, want still 2", n)
	}
}
