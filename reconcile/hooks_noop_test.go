package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestNoopHookOnlyCommit: a triggered sync of a commit that changes only a hook (a migration Job
// with a new command) runs it and succeeds, and its result says why it was not a no-op; the same
// trigger again runs nothing and is refused (exit 3) naming the unchanged hook; a commit that
// adds a hook (generateName, PostSync) is work too.
func TestNoopHookOnlyCommit(t *testing.T) {
	f := newFixture(t)
	app := f.app("migrate", "")
	migrate := func(step string) string {
		return strings.Replace(hookJob("migrate", map[string]string{"argocd.argoproj.io/hook": "PreSync", "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}, "example.com/migrate:v1", 0),
			"        image: example.com/migrate:v1\n", "        image: example.com/migrate:v1\n        args: [migrate, --to, '"+step+"']\n", 1)
	}
	f.commit(map[string]string{"app.yaml": deploymentYAML("web", "example.com/web:v1"), "migrate.yaml": migrate("1")})
	res := f.mustSync(app, reconcile.SyncOptions{})
	wantHooks(t, res, "migrate hook succeeded")
	first := f.job("migrate").UID

	f.commit(map[string]string{"migrate.yaml": migrate("2")})
	res, err := f.sync(app, reconcile.SyncOptions{})
	if err != nil || res.ExitCode != exitcode.OK {
		t.Fatalf("hook-only commit: exit %d, %v; want it run", res.ExitCode, err)
	}
	wantHooks(t, res, "migrate hook succeeded")
	if !strings.Contains(res.Message, "not a no-op: hooks: PreSync Job/migrate changed") {
		t.Errorf("hook-only commit: message %q does not say the hook changed", res.Message)
	}
	j := f.job("migrate")
	if j.UID == first || !strings.Contains(strings.Join(j.Spec.Template.Spec.Containers[0].Args, " "), "--to 2") {
		t.Errorf("hook-only commit: Job/migrate not run with its new command: uid %s (first %s), args %q", j.UID, first, j.Spec.Template.Spec.Containers[0].Args)
	}

	res, err = f.sync(app, reconcile.SyncOptions{})
	wantErr(t, res, err, reconcile.ErrNoImageChange, exitcode.Noop)
	if !strings.Contains(err.Error(), "hooks unchanged since the last successful sync: PreSync Job/migrate") {
		t.Errorf("unchanged re-trigger: %v; want it to name the unchanged hook", err)
	}
	if again := f.job("migrate").UID; again != j.UID {
		t.Errorf("unchanged re-trigger: the refused sync ran Job/migrate again")
	}
	if hist, _ := f.r.History(context.Background(), "migrate"); len(hist) != 3 || hist[0].Status != api.StatusNoopRefused {
		t.Errorf("history after the refused re-trigger: %+v", hist)
	}

	f.commit(map[string]string{"notify.yaml": hookJob("notify-", map[string]string{"argocd.argoproj.io/hook": "PostSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}, "example.com/notify:v1", 0)})
	res, err = f.sync(app, reconcile.SyncOptions{})
	if err != nil || !strings.Contains(res.Message, "not a no-op: hooks: PostSync Job/notify-* new") {
		t.Fatalf("a new hook: exit %d, %v, message %q; want it run, said new", res.ExitCode, err, res.Message)
	}
	wantHooks(t, res, "migrate hook succeeded", "notify- hook succeeded")
}
