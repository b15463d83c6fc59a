package reconcilertest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// shardApps writes an apps config of n apps, each in its own repository (apps are hashed onto
// shards by repository), each a ConfigMap named after it in f.ns. It returns the apps' names.
func (f *fixture) shardApps(n int) []string {
	f.t.Helper()
	var b strings.Builder
	b.WriteString("apps:\n")
	var names []string
	for i := range n {
		name := fmt.Sprintf("s%02d", i)
		names = append(names, name)
		f.git.MustCreateRepo(f.t, name)
		f.commitShardApp(name, "v1")
		fmt.Fprintf(&b, "- {name: %s, repo: %s, namespace: %s, sharedNamespace: true, timeout: 1m, auth: {username: ci, tokenFile: %s}}\n",
			name, f.git.RepoURL(name), f.ns, filepath.Join(f.dir, "git-token"))
	}
	f.config = f.write("apps.yaml", b.String())
	return names
}

func (f *fixture) commitShardApp(name, v string) string {
	f.t.Helper()
	return f.git.MustCommit(f.t, name, "main", v, map[string]string{
		"cm.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {v: %s}\n", name, v)})
}

// holders returns who holds each shard, as r sees it.
func holders(r *reconcilertest.Server) (map[string]int, []api.ShardStatus) {
	st, err := r.Client().Server(context.Background())
	if err != nil {
		return nil, nil
	}
	out := map[string]int{}
	for _, sh := range st.Shards {
		out[sh.Holder]++
	}
	return out, st.Shards
}

// TestShardsSplitAndTakeover: two replicas with 4 shards hold 2 each; a trigger sent to one for
// an app of the other's shard runs on the owner and answers with its result; after the other
// is killed (SIGKILL) the survivor takes its shards within the lease and deploys their apps.
func TestShardsSplitAndTakeover(t *testing.T) {
	f := newFixture(t)
	apps := f.shardApps(12)
	opts := reconcilertest.Options{LeaderElection: lease, Interval: 500 * time.Millisecond, Args: []string{"--shards", "4"}}
	a := f.start("one", opts)
	b := f.start("two", opts)
	waitFor(t, "the shards split 2 and 2", func() bool {
		ha, _ := holders(a)
		hb, _ := holders(b)
		return ha[a.Identity] == 2 && ha[b.Identity] == 2 && hb[a.Identity] == 2 && hb[b.Identity] == 2
	})

	// Each app triggered through a: those of b's shards run on b.
	ran := map[string]string{} // app → replica that ran its sync
	for _, app := range apps {
		res, err := a.Client().Sync(context.Background(), app, api.SyncRequest{Wait: true})
		if err != nil || res.Status != api.StatusSucceeded && res.Status != api.StatusNoopRefused {
			t.Fatalf("trigger of %s through %s = %+v, %v", app, a.Identity, res, err)
		}
		ran[app] = res.Replica
	}
	var onB []string
	for app, r := range ran {
		switch r {
		case b.Identity:
			onB = append(onB, app)
		case a.Identity:
		default:
			t.Errorf("app %s ran on %q, neither replica", app, r)
		}
	}
	t.Logf("apps of b's shards: %v", onB)
	if len(onB) == 0 || len(onB) == len(apps) {
		t.Fatalf("%d of %d apps ran on b: want the apps split over the replicas (ran: %v)", len(onB), len(apps), ran)
	}

	killed := time.Now()
	b.Kill()
	waitFor(t, "a to hold all 4 shards", func() bool { h, _ := holders(a); return h[a.Identity] == 4 })
	takeover := time.Since(killed)
	t.Logf("a holds all shards %s after b's SIGKILL (lease %s, retry %s)", takeover.Round(10*time.Millisecond), lease.Duration, lease.RetryPeriod)
	if _, shards := holders(a); len(shards) != 4 {
		t.Errorf("shards = %+v, want 4", shards)
	}

	// A new commit of an app b held is deployed by a's polls.
	app := onB[0]
	v2 := f.commitShardApp(app, "v2")
	waitFor(t, "a to deploy "+app+" at v2", func() bool {
		st, err := a.Client().Status(context.Background(), app)
		return err == nil && st.LastSync != nil && st.LastSync.Revision == v2 && st.LastSync.Status == api.StatusSucceeded
	})
	st, _ := a.Client().Status(context.Background(), app)
	if st.LastSync.Replica != a.Identity || st.LastSync.Trigger != "poll" {
		t.Errorf("%s at v2: %s by %s; want a poll on %s", app, st.LastSync.Trigger, st.LastSync.Replica, a.Identity)
	}
}
