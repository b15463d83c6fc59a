package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// hookJob is a Job hook; kwok completes its pod. A ":stuck" image gets a node selector no node
// matches, so its pod stays Pending and the Job never completes; with a deadline the Job
// controller then fails it (DeadlineExceeded), which is how a hook fails here.
func hookJob(name string, annotations map[string]string, image string, deadline int) string {
	var ann []string
	for k, v := range annotations {
		ann = append(ann, fmt.Sprintf("    %s: %q", k, v))
	}
	meta := "  name: " + name
	if strings.HasSuffix(name, "-") {
		meta = "  generateName: " + name
	}
	stuck := ""
	if strings.HasSuffix(image, ":stuck") {
		stuck = "\n      nodeSelector: {tagrelay.dev/test: no-such-node}"
	}
	spec := "  backoffLimit: 0\n"
	if deadline > 0 {
		spec += fmt.Sprintf("  activeDeadlineSeconds: %d\n", deadline)
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
%s
  annotations:
%s
spec:
%s  template:
    spec:
      restartPolicy: Never%s
      containers:
      - name: run
        image: %s
`, meta, strings.Join(ann, "\n"), spec, stuck, image)
}

const chartYAML = "apiVersion: v2\nname: web\nversion: 0.1.0\n"

const chartDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: "example.com/web:{{ .Values.tag }}"
`

// hookChart is a chart with a Deployment and the given hook templates.
func hookChart(tag string, hooks map[string]string) map[string]string {
	files := map[string]string{"chart/Chart.yaml": chartYAML, "chart/values.yaml": "tag: " + tag + "\n",
		"chart/templates/deployment.yaml": chartDeployment}
	for name, y := range hooks {
		files["chart/templates/"+name+".yaml"] = y
	}
	return files
}

func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	j, err := f.cs.BatchV1().Jobs(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("reading Job %s: %v", name, err)
	}
	return j
}

// hookOrder lists the hooks a result ran, in order: "Job/migrate-schema hook succeeded".
func hookOrder(res *reconcile.Result) []string {
	var out []string
	for _, o := range res.Objects {
		switch o.Action {
		case api.ActionHookSucceeded, api.ActionHookFailed:
			_, name, _ := strings.Cut(strings.TrimPrefix(o.Object, "Job/"), "/")
			out = append(out, name+" "+string(o.Action))
		}
	}
	return out
}

// TestHelmHooks: a chart's pre-upgrade migration Jobs run by weight and complete before the
// Deployment changes, a failing one fails the sync and leaves the Deployment alone, hooks: skip
// says so, and a hook that never finishes is bounded by the app's timeout.
func TestHelmHooks(t *testing.T) {
	t.Run("migration before the upgrade", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		hooks := map[string]string{
			"schema": hookJob("migrate-schema", map[string]string{"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "5"}, "example.com/migrate:v1", 0),
			"seed":   hookJob("migrate-seed", map[string]string{"helm.sh/hook": "pre-upgrade", "helm.sh/hook-weight": "-5", "helm.sh/hook-delete-policy": "before-hook-creation"}, "example.com/migrate:v1", 0),
			"test":   hookJob("web-test", map[string]string{"helm.sh/hook": "test"}, "example.com/test:v1", 0),
		}
		f.commit(hookChart("v1", hooks))
		res := f.mustSync(app, reconcile.SyncOptions{})
		if got, want := strings.Join(hookOrder(res), ", "), "migrate-seed hook succeeded, migrate-schema hook succeeded"; got != want {
			t.Errorf("first sync ran hooks %q, want %q", got, want)
		}
		if !strings.Contains(res.Message, "Job/web-test (helm test): test hooks are not run") {
			t.Errorf("first sync message %q does not say the test hook was not run", res.Message)
		}
		firstUID := f.job("migrate-schema").UID

		f.commit(hookChart("v2", hooks))
		res = f.mustSync(app, reconcile.SyncOptions{ExpectImage: "example.com/web:v2"})
		if got, want := strings.Join(hookOrder(res), ", "), "migrate-seed hook succeeded, migrate-schema hook succeeded"; got != want {
			t.Errorf("upgrade ran hooks %q, want %q", got, want)
		}
		j := f.job("migrate-schema")
		if j.UID == firstUID {
			t.Errorf("before-hook-creation (the default): Job/migrate-schema was not recreated")
		}
		if j.Status.CompletionTime == nil {
			t.Fatalf("Job/migrate-schema did not complete: %+v", j.Status)
		}
		if changed := deploymentChanged(f.deployment("web").ManagedFields); changed.Before(j.Status.CompletionTime.Time) {
			t.Errorf("the Deployment changed at %s, before the migration completed at %s", changed, j.Status.CompletionTime)
		}
		if got := f.readyImages(); got["example.com/web:v2"] != 1 {
			t.Errorf("after the upgrade, ready pods %v", got)
		}
	})

	t.Run("failing hook", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		f.commit(hookChart("v1", nil))
		f.mustSync(app, reconcile.SyncOptions{})
		gen := f.deployment("web").Generation
		f.commit(hookChart("v2", map[string]string{"migrate": hookJob("migrate", map[string]string{"helm.sh/hook": "pre-upgrade"}, "example.com/migrate:stuck", 1)}))
		res, err := f.sync(app, reconcile.SyncOptions{})
		wantErr(t, res, err, reconcile.ErrHook, exitcode.Failure)
		for _, want := range []string{"PreSync (helm pre-upgrade), wave 0", "Job/" + f.ns + "/migrate", "DeadlineExceeded"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("hook error does not say %q: %v", want, err)
			}
		}
		if d := f.deployment("web"); d.Generation != gen || d.Spec.Template.Spec.Containers[0].Image != "example.com/web:v1" {
			t.Errorf("after the failed hook the Deployment changed: generation %d -> %d, image %s", gen, d.Generation, d.Spec.Template.Spec.Containers[0].Image)
		}
		if hist, _ := f.r.History(context.Background(), "web"); len(hist) != 2 || hist[0].Status != api.StatusFailed || !strings.Contains(hist[0].Message, "hook failed") {
			t.Errorf("history after the failed hook: %+v", hist)
		}
	})

	t.Run("hooks skip", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		app.Hooks = reconcile.HooksSkip
		f.commit(hookChart("v1", map[string]string{"migrate": hookJob("migrate", map[string]string{"helm.sh/hook": "pre-install"}, "example.com/migrate:v1", 0)}))
		res := f.mustSync(app, reconcile.SyncOptions{})
		if !strings.Contains(res.Message, "1 hook(s) skipped (hooks: skip): Job/migrate (PreSync)") || res.Summary()[api.ActionHookSkipped] != 1 {
			t.Errorf("hooks: skip: message %q, objects %+v; want the skip said", res.Message, res.Objects)
		}
		if _, err := f.cs.BatchV1().Jobs(f.ns).Get(context.Background(), "migrate", metav1.GetOptions{}); err == nil {
			t.Errorf("hooks: skip: the hook Job was created")
		}
	})

	t.Run("hook never finishes", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		app.Timeout = reconcile.Duration(3 * time.Second)
		f.commit(hookChart("v1", map[string]string{"hang": hookJob("hang", map[string]string{"helm.sh/hook": "pre-install"}, "example.com/hang:stuck", 0)}))
		start := time.Now()
		res, err := f.sync(app, reconcile.SyncOptions{})
		wantErr(t, res, err, reconcile.ErrHook, exitcode.Failure)
		if !strings.Contains(err.Error(), "did not finish within 3s") {
			t.Errorf("hook error %v does not say it timed out", err)
		}
		t.Logf("a hook that never finishes ended the sync after %s", time.Since(start).Round(time.Millisecond))
		if _, err := f.cs.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
			t.Errorf("the Deployment was applied after the hook timed out")
		}
	})

	t.Run("a thousand hooks", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		loop := `{{ range until 1000 }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hook-{{ . }}
  annotations: {"helm.sh/hook": pre-install}
{{ end }}`
		f.commit(hookChart("v1", map[string]string{"many": loop}))
		res, err := f.sync(app, reconcile.SyncOptions{})
		if err == nil || res.ExitCode != exitcode.Usage || !strings.Contains(err.Error(), "1000 hooks, at most 100") {
			t.Fatalf("1000 hooks: exit %d, %v; want exit 2 naming the limit", res.ExitCode, err)
		}
		if names := f.objectNames(); len(names) != 0 {
			t.Errorf("1000 hooks: objects written: %v", names)
		}
	})
}

// deploymentChanged is when tagrelay last applied the Deployment (its field manager's time).
func deploymentChanged(mf []metav1.ManagedFieldsEntry) time.Time {
	var t time.Time
	for _, e := range mf {
		if e.Manager == reconcile.FieldManager && e.Time != nil && e.Time.After(t) {
			t = e.Time.Time
		}
	}
	return t
}
