package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestViewsSharedAcrossReplicas: two replicas split two shards, each deploys the app of its
// shard; the console of each shows the health and running image of the other's app too (the
// holder shares its view), where it showed Unknown before: a user's browser reaches either
// replica through the Service. A drift the holder's check finds reaches the other replica too.
func TestViewsSharedAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	// one repository per shard
	var apps []reconcile.App
	seen := map[int]bool{}
	for i := 0; len(apps) < 2; i++ {
		repo := fmt.Sprintf("infra-%d", i)
		url := f.git.RepoURL(repo)
		if seen[reconcile.ShardIndex(url, 2)] {
			continue
		}
		seen[reconcile.ShardIndex(url, 2)] = true
		name := fmt.Sprintf("app%d", len(apps))
		f.git.MustCreateRepo(t, repo)
		f.git.MustCommit(t, repo, "main", "app", map[string]string{"d.yaml": deploymentYAML(name, "example.com/"+name+":v1")})
		apps = append(apps, reconcile.App{Name: name, Repo: url, Namespace: f.ns, SharedNamespace: true, Timeout: reconcile.Duration(time.Minute)})
	}
	cfg := &reconcile.Config{Apps: apps}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Apps {
		cfg.Apps[i].Auth = reconcile.Auth{Username: gitUser, TokenEnv: "TOKEN"}
	}
	if err := cfg.ResolveCredentials(func(string) string { return gitToken }); err != nil {
		t.Fatal(err)
	}
	serverOn := func(url string) *reconcile.Server {
		r, err := reconcile.New(kubetest.Shared(t).RESTConfig(), reconcile.Options{Namespace: f.sys, CacheDir: t.TempDir(), PollInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s, err := reconcile.NewServer(r, cfg, reconcile.ServerOptions{Token: apiToken, Interval: 500 * time.Millisecond, AdvertiseURL: url,
			LeaderElection: &reconcile.LeaderElection{LeaseName: "views", LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond,
				RetryPeriod: 250 * time.Millisecond, Shards: 2},
			Console: reconcile.ConsoleOptions{SessionKey: []byte("console-test-session-key-32bytes!"), DriftInterval: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		runServer(t, s)
		return s
	}
	a, b := serverOn("http://a.invalid"), serverOn("http://b.invalid")
	holderOf := func(app reconcile.App) string {
		for _, sh := range a.Status().Shards {
			if sh.Shard == reconcile.ShardIndex(app.Repo, 2) {
				return sh.Holder
			}
		}
		return ""
	}
	waitFor(t, "the shards to split 1 and 1", func() bool {
		h0, h1 := holderOf(apps[0]), holderOf(apps[1])
		return h0 != "" && h1 != "" && h0 != h1
	})
	for _, s := range []*reconcile.Server{a, b} {
		for _, app := range apps {
			holds := holderOf(app) == s.Identity()
			waitFor(t, fmt.Sprintf("%s (holds it: %v) to show %s Healthy on v1", s.Identity(), holds, app.Name), func() bool {
				st := reconcile.ConsoleState(s, app.Name)
				return st.Health == api.HealthHealthy && len(st.Running) == 1 && st.Running[0].Image == "example.com/"+app.Name+":v1"
			})
		}
	}

	// drift: the app's Deployment changed in the cluster; its holder's check finds it
	other := a
	if holderOf(apps[0]) == a.Identity() {
		other = b
	}
	patch := []byte(`{"spec":{"replicas":1}}`)
	if _, err := f.cs.AppsV1().Deployments(f.ns).Patch(context.Background(), apps[0].Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica that does not hold app0 to show its drift", func() bool {
		return reconcile.ConsoleState(other, apps[0].Name).Sync == api.SyncOutOfSync
	})
}
