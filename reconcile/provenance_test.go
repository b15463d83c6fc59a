package reconcile_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/provenance"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestSyncAppCommits: every sync result names the app commits its revision carries, read from the
// provenance trailers of the infra commits since the last successful deploy — already when the
// workloads are applied (OnApplied, where a notifier sends its pending status), and again on a
// retry of a failed revision.
func TestSyncAppCommits(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	bumpTo := func(tag string, src byte) string {
		rec := provenance.Record{Images: []string{"registry.example/web:" + tag},
			Source: provenance.Source{Commit: strings.Repeat(string(src), 40), Repo: "https://gitlab.example.com/team/web"}}
		trailers, err := rec.Trailers()
		if err != nil {
			t.Fatal(err)
		}
		return f.git.MustCommit(t, f.repo, "main", provenance.Append("deploy: registry.example/web:"+tag, trailers),
			map[string]string{"deploy.yaml": deploymentYAML("web", "registry.example/web:"+tag)})
	}
	want := func(tag string, src byte, infra string) []api.AppCommit {
		return []api.AppCommit{{Commit: strings.Repeat(string(src), 40), Repo: "https://gitlab.example.com/team/web",
			Images: []string{"registry.example/web:" + tag}, InfraCommit: infra}}
	}

	first := bumpTo("1", 'a')
	var applied api.SyncResult
	res := f.mustSync(app, reconcile.SyncOptions{OnApplied: func(r reconcile.Result) { applied = r }})
	if diff := cmp.Diff(want("1", 'a', first), res.AppCommits); diff != "" {
		t.Errorf("first deploy: AppCommits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want("1", 'a', first), applied.AppCommits); diff != "" {
		t.Errorf("first deploy, once applied: AppCommits (-want +got):\n%s", diff)
	}

	broken := bumpTo("broken", 'b')
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := f.sync(app, reconcile.SyncOptions{AllowNoop: true})
		if err == nil {
			t.Fatalf("attempt %d: the broken image deployed", attempt)
		}
		if diff := cmp.Diff(want("broken", 'b', broken), res.AppCommits); diff != "" {
			t.Errorf("failed attempt %d: AppCommits (-want +got):\n%s", attempt, diff)
		}
	}
	fixed := bumpTo("2", 'c')
	res = f.mustSync(app, reconcile.SyncOptions{})
	if diff := cmp.Diff(want("2", 'c', fixed), res.AppCommits); diff != "" {
		t.Errorf("fix: AppCommits (-want +got):\n%s", diff)
	}
	// The history keeps them.
	h, err := f.r.History(t.Context(), "web")
	if err != nil || len(h) == 0 || len(h[0].AppCommits) != 1 {
		t.Errorf("History()[0] = %+v, %v; want the app commit recorded", h, err)
	}
}
