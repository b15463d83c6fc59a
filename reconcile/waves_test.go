package reconcile_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// withAnnotations adds annotations to the metadata of a manifest that has none.
func withAnnotations(y string, ann string) string {
	return strings.Replace(y, "metadata:\n  name: ", "metadata:\n  annotations: "+ann+"\n  name: ", 1)
}

// wantHooks checks the hooks a result ran, in order, by name prefix (generateName) and action.
func wantHooks(t *testing.T, res *reconcile.Result, want ...string) {
	t.Helper()
	got := hookOrder(res)
	if len(got) != len(want) {
		t.Fatalf("hooks run = %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], strings.Fields(want[i])[0]) || !strings.HasSuffix(got[i], strings.Join(strings.Fields(want[i])[1:], " ")) {
			t.Errorf("hooks run = %q, want %q", got, want)
		}
	}
}

// TestArgoCDHooksAndWaves deploys repositories written for Argo CD, in the shape of
// argoproj/argocd-example-apps' helm-hooks, sync-waves and pre-post-sync: their hooks (with
// generateName) and waves run in order; a failing PreSync hook leaves the Deployment untouched
// and runs the SyncFail hook; a failing wave stops the later ones.
func TestArgoCDHooksAndWaves(t *testing.T) {
	t.Run("helm-hooks", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("guestbook", "")
		f.commit(map[string]string{
			"upgrade-sql-schema.yaml": hookJob("upgrade-sql-schema-", map[string]string{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-2"}, "example.com/sql:v1", 0),
			"maint-page-up.yaml":      hookJob("maint-page-up-", map[string]string{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-1"}, "example.com/maint:v1", 0),
			// a PostSync hook running as a ServiceAccount of the app: the identity guard knows it
			"maint-page-down.yaml": strings.Replace(hookJob("maint-page-down-", map[string]string{"helm.sh/hook": "post-install", "helm.sh/hook-weight": "1"}, "example.com/maint:v1", 0),
				"restartPolicy: Never", "restartPolicy: Never\n      serviceAccountName: guestbook", 1),
			"sa.yaml":       "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: guestbook}\n",
			"frontend.yaml": deploymentYAML("frontend", "example.com/guestbook:v1"),
		})
		res := f.mustSync(app, reconcile.SyncOptions{})
		wantHooks(t, res, "upgrade-sql-schema- hook succeeded", "maint-page-up- hook succeeded", "maint-page-down- hook succeeded")
		if got := f.readyImages()["example.com/guestbook:v1"]; got != 2 {
			t.Errorf("frontend: %d ready pods, want 2", got)
		}
	})

	t.Run("sync-waves", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("waves", "")
		files := map[string]string{
			"upgrade-sql-schema.yaml": hookJob("upgrade-sql-schema-", map[string]string{"argocd.argoproj.io/hook": "PreSync"}, "example.com/sql:v1", 0),
			"backend.yaml":            withAnnotations(deploymentYAML("backend", "example.com/backend:v1"), `{argocd.argoproj.io/sync-wave: "1"}`),
			"maint-page-up.yaml":      hookJob("maint-page-up-", map[string]string{"argocd.argoproj.io/hook": "Sync", "argocd.argoproj.io/sync-wave": "2"}, "example.com/maint:v1", 0),
			"frontend.yaml":           withAnnotations(deploymentYAML("frontend", "example.com/frontend:v1"), `{argocd.argoproj.io/sync-wave: "3"}`),
			"maint-page-down.yaml":    hookJob("maint-page-down-", map[string]string{"argocd.argoproj.io/hook": "Sync", "argocd.argoproj.io/sync-wave": "4", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, "example.com/maint:v1", 0),
		}
		f.commit(files)
		res := f.mustSync(app, reconcile.SyncOptions{})
		wantHooks(t, res, "upgrade-sql-schema- hook succeeded", "maint-page-up- hook succeeded", "maint-page-down- hook succeeded")
		// wave 3 was created once wave 2's hook had completed
		jobs, err := f.cs.BatchV1().Jobs(f.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Items {
			if strings.HasPrefix(j.Name, "maint-page-up-") {
				if created := f.deployment("frontend").CreationTimestamp; j.Status.CompletionTime == nil || created.Before(j.Status.CompletionTime) {
					t.Errorf("frontend (wave 3) created at %s, before maint-page-up (wave 2) completed at %v", created, j.Status.CompletionTime)
				}
			}
			if strings.HasPrefix(j.Name, "maint-page-down-") && j.DeletionTimestamp == nil {
				t.Errorf("maint-page-down (HookSucceeded) was not deleted")
			}
		}

		// A wave that does not become healthy stops the later waves and their hooks.
		files["backend.yaml"] = withAnnotations(deploymentYAML("backend", "example.com/backend:broken"), `{argocd.argoproj.io/sync-wave: "1"}`)
		files["frontend.yaml"] = withAnnotations(deploymentYAML("frontend", "example.com/frontend:v2"), `{argocd.argoproj.io/sync-wave: "3"}`)
		f.commit(files)
		res, err = f.sync(app, reconcile.SyncOptions{})
		wantErr(t, res, err, reconcile.ErrRollout, exitcode.Failure)
		if !strings.Contains(err.Error(), "sync wave 1") {
			t.Errorf("wave error does not name the wave: %v", err)
		}
		if img := f.deployment("frontend").Spec.Template.Spec.Containers[0].Image; img != "example.com/frontend:v1" {
			t.Errorf("wave 3 was applied after wave 1 failed: frontend runs %s", img)
		}
		wantHooks(t, res, "upgrade-sql-schema- hook succeeded")
	})

	t.Run("pre-post-sync", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("prepost", "")
		f.commit(map[string]string{
			"before.yaml": hookJob("before", map[string]string{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, "example.com/before:v1", 0),
			"after.yaml":  hookJob("after", map[string]string{"argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, "example.com/after:v1", 0),
			"app.yaml":    deploymentYAML("web", "example.com/web:v1"),
		})
		res := f.mustSync(app, reconcile.SyncOptions{})
		wantHooks(t, res, "before hook succeeded", "after hook succeeded")
		for _, name := range []string{"before", "after"} {
			j, err := f.cs.BatchV1().Jobs(f.ns).Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && j.DeletionTimestamp == nil || err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("Job %s (HookSucceeded) not deleted: %v", name, err)
			}
		}
	})

	t.Run("failing PreSync runs SyncFail", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("prepost", "")
		f.commit(map[string]string{"app.yaml": deploymentYAML("web", "example.com/web:v1")})
		f.mustSync(app, reconcile.SyncOptions{})
		gen := f.deployment("web").Generation
		f.commit(map[string]string{
			"app.yaml":     deploymentYAML("web", "example.com/web:v2"),
			"before.yaml":  hookJob("before", map[string]string{"argocd.argoproj.io/hook": "PreSync"}, "example.com/before:stuck", 1),
			"cleanup.yaml": hookJob("cleanup-", map[string]string{"argocd.argoproj.io/hook": "SyncFail"}, "example.com/cleanup:v1", 0),
		})
		res, err := f.sync(app, reconcile.SyncOptions{})
		wantErr(t, res, err, reconcile.ErrHook, exitcode.Failure)
		if d := f.deployment("web"); d.Generation != gen || d.Spec.Template.Spec.Containers[0].Image != "example.com/web:v1" {
			t.Errorf("failed PreSync: the Deployment changed (generation %d -> %d)", gen, d.Generation)
		}
		wantHooks(t, res, "before hook failed", "cleanup- hook succeeded")
		if res.Status != api.StatusFailed {
			t.Errorf("status %s, want Failed", res.Status)
		}
	})

	t.Run("generateName outside hooks", func(t *testing.T) {
		f := newFixture(t)
		app := f.app("gen", "")
		f.commit(map[string]string{"job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: j-}\n"})
		res, err := f.sync(app, reconcile.SyncOptions{})
		if err == nil || res.ExitCode != exitcode.Usage || !strings.Contains(err.Error(), "generateName, which only a hook") {
			t.Errorf("generateName on a plain Job: exit %d, %v; want exit 2 saying only hooks may", res.ExitCode, err)
		}
	})
}
