package reconcile_test

import (
	"context"
	"strings"
	"testing"

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
