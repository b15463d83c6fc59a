package reconcile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// slowHookJob is a Job hook whose pod runs for delay before it completes (the kwok stage's
// pod-complete.stage.kwok.x-k8s.io/delay annotation, see internal/kubetest/stages.yaml).
func slowHookJob(name string, annotations map[string]string, delay string) string {
	return strings.Replace(hookJob(name, annotations, "example.com/migrate:v1", 0), "  template:\n    spec:\n",
		"  template:\n    metadata:\n      annotations: {pod-complete.stage.kwok.x-k8s.io/delay: "+delay+"}\n    spec:\n", 1)
}

// ran is when a Job ran: its start and completion times (the Job controller's).
func ran(t *testing.T, j *batchv1.Job) (start, end time.Time) {
	t.Helper()
	if j.Status.StartTime == nil || j.Status.CompletionTime == nil {
		t.Fatalf("Job %s has not run to completion: %+v", j.Name, j.Status)
	}
	return j.Status.StartTime.Time, j.Status.CompletionTime.Time
}

// overlapped reports whether two Jobs ran at the same time.
func overlapped(t *testing.T, a, b *batchv1.Job) bool {
	as, ae := ran(t, a)
	bs, be := ran(t, b)
	return as.Before(be) && bs.Before(ae)
}

// TestHookWaves: the Argo CD hooks of one wave run together — their Jobs overlap — and the sync
// goes on once all of them completed; Helm hooks of one weight still run one after another, as
// Helm runs them; a hook that fails fails its wave once the other hooks of the wave finished
// (not cancelled, as in Argo CD), naming it, with the other's result recorded, and nothing after
// the wave is applied.
func TestHookWaves(t *testing.T) {
	t.Run("argocd hooks of a wave run together", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("wave", "")
		pre := map[string]string{"argocd.argoproj.io/hook": "PreSync"}
		f.commit(map[string]string{
			"a.yaml":       slowHookJob("migrate-a", pre, "3s"),
			"b.yaml":       slowHookJob("migrate-b", pre, "3s"),
			"cleanup.yaml": hookJob("cleanup", map[string]string{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, "example.com/cleanup:v1", 0),
			"app.yaml":     deploymentYAML("web", "example.com/web:v1"),
		})
		start := time.Now()
		res := f.mustSync(app, reconcile.SyncOptions{})
		t.Logf("two 3 s hooks of one wave: sync took %s", time.Since(start).Round(time.Millisecond))
		wantHooks(t, res, "cleanup hook succeeded", "migrate-a hook succeeded", "migrate-b hook succeeded")
		a, b := f.job("migrate-a"), f.job("migrate-b")
		if !overlapped(t, a, b) {
			as, ae := ran(t, a)
			bs, be := ran(t, b)
			t.Errorf("the hooks of one wave ran one after another: migrate-a %s–%s, migrate-b %s–%s", as, ae, bs, be)
		}
		created := f.deployment("web").CreationTimestamp
		for _, j := range []*batchv1.Job{a, b} {
			if created.Before(j.Status.CompletionTime) {
				t.Errorf("the Deployment was created at %s, before PreSync hook %s completed at %s", created, j.Name, j.Status.CompletionTime)
			}
		}
		if j, err := f.cs.BatchV1().Jobs(f.ns).Get(context.Background(), "cleanup", metav1.GetOptions{}); err == nil && j.DeletionTimestamp == nil || err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("Job cleanup (HookSucceeded) not deleted: %v", err)
		}
	})

	t.Run("helm hooks of a weight run one after another", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("web", "chart")
		pre := map[string]string{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "1"}
		f.commit(hookChart("v1", map[string]string{"b": slowHookJob("migrate-b", pre, "2s"), "a": slowHookJob("migrate-a", pre, "2s")}))
		res := f.mustSync(app, reconcile.SyncOptions{})
		wantHooks(t, res, "migrate-a hook succeeded", "migrate-b hook succeeded")
		a, b := f.job("migrate-a"), f.job("migrate-b")
		if _, ae := ran(t, a); overlapped(t, a, b) || b.Status.StartTime.Before(&metav1.Time{Time: ae}) {
			t.Errorf("Helm hooks of one weight overlapped: migrate-a completed at %s, migrate-b started at %s", ae, b.Status.StartTime)
		}
	})

	t.Run("a failing hook fails its wave after the others", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("wave", "")
		f.commit(map[string]string{"app.yaml": deploymentYAML("web", "example.com/web:v1")})
		f.mustSync(app, reconcile.SyncOptions{})
		gen := f.deployment("web").Generation
		pre := map[string]string{"argocd.argoproj.io/hook": "PreSync"}
		f.commit(map[string]string{
			"app.yaml":  deploymentYAML("web", "example.com/web:v2"),
			"fail.yaml": hookJob("migrate-fail", pre, "example.com/migrate:stuck", 1),
			"slow.yaml": slowHookJob("migrate-slow", pre, "4s"),
		})
		res, err := f.sync(app, reconcile.SyncOptions{})
		wantErr(t, res, err, reconcile.ErrHook, exitcode.Failure)
		for _, want := range []string{"PreSync (argocd PreSync), wave 0 Job/" + f.ns + "/migrate-fail", "DeadlineExceeded"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("hook error does not say %q: %v", want, err)
			}
		}
		wantHooks(t, res, "migrate-fail hook failed", "migrate-slow hook succeeded")
		// the slow hook of the wave ran to its end after the other had failed
		slow, failed := f.job("migrate-slow"), f.job("migrate-fail")
		_, slowEnd := ran(t, slow)
		var failedAt time.Time
		for _, c := range failed.Status.Conditions {
			if c.Type == batchv1.JobFailed {
				failedAt = c.LastTransitionTime.Time
			}
		}
		if failedAt.IsZero() || !failedAt.Before(slowEnd) {
			t.Errorf("migrate-fail failed at %s, migrate-slow completed at %s: want the failure first, the wave waiting for the slow hook", failedAt, slowEnd)
		}
		if d := f.deployment("web"); d.Generation != gen || d.Spec.Template.Spec.Containers[0].Image != "example.com/web:v1" {
			t.Errorf("after the failed wave the Deployment changed: generation %d -> %d", gen, d.Generation)
		}
		if hist, _ := f.r.History(context.Background(), "wave"); len(hist) != 2 || hist[0].Status != api.StatusFailed || !strings.Contains(hist[0].Message, "migrate-fail") {
			t.Errorf("history after the failed hook: %+v", hist)
		}
	})
}
