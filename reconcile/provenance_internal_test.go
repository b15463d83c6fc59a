package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/provenance"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

func sha(c byte) string { return strings.Repeat(string(c), 40) }

const appAKustomization = `images:
  - name: harbor.example/team/a
    newTag: "0"
  - name: harbor.example/team/a-worker
    newTag: "0"
`

// TestAppCommits: the reconciler reads back, over a real smart-HTTP server and its own cache,
// the trailers tagrelay bump wrote: the app commits of the range since the last deploy, not those
// of another app of the same repository, not an image a later commit replaced; a retry of the same
// revision reports the same commits; a merge request's commit is found behind its merge.
func TestAppCommits(t *testing.T) {
	t.Parallel()
	s := gittest.New(t, gittest.WithBasicAuth("ci", "t0ken"))
	s.MustCreateRepo(t, "infra")
	deployed := s.MustCommit(t, "infra", "main", "seed", map[string]string{
		"apps/a/kustomization.yaml": appAKustomization,
		"apps/b/kustomization.yaml": "images:\n  - name: harbor.example/team/b\n    newTag: \"0\"\n",
	})
	remote := bump.Remote{URL: s.RepoURL("infra"), Auth: &githttp.BasicAuth{Username: "ci", Password: "t0ken"}}
	when := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	push := func(file, image, tag string, src byte, head string) string {
		t.Helper()
		when = when.Add(time.Minute)
		at := when
		c, err := bump.Push(context.Background(), remote, []string{file}, []bump.Target{{Image: image, Tag: tag}},
			bump.PushOptions{Source: provenance.Source{Commit: sha(src), Repo: "https://gitlab.example.com/team/" + string(src)},
				HeadBranch: head, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatalf("bump %s: %v", image, err)
		}
		return c.Hash
	}
	push("apps/a/kustomization.yaml", "harbor.example/team/a", "11111111", '1', "")          // replaced below
	push("apps/b/kustomization.yaml", "harbor.example/team/b", "22222222", '2', "")          // another app
	three := push("apps/a/kustomization.yaml", "harbor.example/team/a", "33333333", '3', "") // deployed
	tip := push("apps/a/kustomization.yaml", "harbor.example/team/a-worker", "44444444", '4', "")

	app := App{Name: "a", Repo: s.RepoURL("infra"), Revision: "main", Path: "apps/a", Credentials: gitauth.Credentials{Username: "ci", Password: "t0ken"}}
	f := &fetcher{dir: t.TempDir()}
	fetch := func() {
		t.Helper()
		rev, err := f.Resolve(context.Background(), app)
		if err == nil {
			_, err = f.Fetch(context.Background(), app, rev)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fetch()
	running := []string{"harbor.example/team/a:33333333", "harbor.example/team/a-worker:44444444@sha256:" + strings.Repeat("0", 64)}
	want := []api.AppCommit{
		{Commit: sha('4'), Repo: "https://gitlab.example.com/team/4", Images: []string{"harbor.example/team/a-worker:44444444"}, InfraCommit: tip},
		{Commit: sha('3'), Repo: "https://gitlab.example.com/team/3", Images: []string{"harbor.example/team/a:33333333"}, InfraCommit: three},
	}
	got, err := f.provenance(app, deployed, tip, running)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("provenance(deployed..tip) (-want +got):\n%s", diff)
	}
	// A retry: the newest success is an older revision; the same commits again.
	history := []Result{{Revision: tip, Status: api.StatusFailed}, {Revision: deployed, Status: api.StatusSucceeded}}
	if from := lastDeployed(history, tip); from != deployed {
		t.Errorf("lastDeployed() = %s, want %s", from, deployed)
	}
	// Nothing known deployed (the sync failed before its plan): the commits that change the app's path.
	got, _ = f.provenance(app, deployed, tip, nil)
	if commits := commitsOf(got); !cmp.Equal(commits, []string{sha('4'), sha('3'), sha('1')}) {
		t.Errorf("provenance() before the plan = %v, want the commits below apps/a", commits)
	}

	// A merge request: the bump commit on its branch, merged with a merge commit.
	mr := push("apps/a/kustomization.yaml", "harbor.example/team/a", "55555555", '5', "tagrelay/a-5")
	if _, err := s.Git("infra", "update-ref", "refs/heads/main", mustMerge(t, s, tip, mr)); err != nil {
		t.Fatal(err)
	}
	fetch()
	merged, _ := s.RevParse("infra", "main")
	got, _ = f.provenance(app, tip, merged, []string{"harbor.example/team/a:55555555", "harbor.example/team/a-worker:44444444"})
	if commits := commitsOf(got); !cmp.Equal(commits, []string{sha('5')}) || got[0].InfraCommit != mr {
		t.Errorf("provenance(tip..merge) = %+v, want app commit 5 from the merge request's commit %s", got, mr)
	}
	// Without a cache directory nothing is kept, so nothing is read.
	if got, err := (&fetcher{}).provenance(app, deployed, tip, running); got != nil || err != nil {
		t.Errorf("provenance() without a cache = %v, %v", got, err)
	}
}

func mustMerge(t *testing.T, s *gittest.Server, main, branch string) string {
	t.Helper()
	tree, err := s.Git("infra", "rev-parse", branch+"^{tree}")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Git("infra", "-c", "user.name=GitLab", "-c", "user.email=gitlab@example.com", "commit-tree", tree, "-p", main, "-p", branch, "-m", "Merge branch 'tagrelay/a-5' into 'main'")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func commitsOf(acs []api.AppCommit) []string {
	var out []string
	for _, a := range acs {
		out = append(out, a.Commit)
	}
	return out
}

// TestAppCommitsBounded: a history deeper than the limit costs at most limit commits per side, a
// missing commit (a shallow cache) ends the walk without an error, and hostile trailers (a
// thousand images, garbage) are read within their bounds.
func TestAppCommitsBounded(t *testing.T) {
	t.Parallel()
	st := memory.NewStorage()
	var parent plumbing.Hash
	commit := func(msg string, parents ...plumbing.Hash) plumbing.Hash {
		t.Helper()
		tree := &object.Tree{}
		to := st.NewEncodedObject()
		if err := tree.Encode(to); err != nil {
			t.Fatal(err)
		}
		th, _ := st.SetEncodedObject(to)
		when := time.Unix(1_700_000_000+int64(len(st.Objects)), 0)
		c := &object.Commit{Message: msg, TreeHash: th, ParentHashes: parents,
			Author: object.Signature{Name: "a", When: when}, Committer: object.Signature{Name: "a", When: when}}
		o := st.NewEncodedObject()
		if err := c.Encode(o); err != nil {
			t.Fatal(err)
		}
		h, _ := st.SetEncodedObject(o)
		return h
	}
	trail := func(img string, src byte) string {
		return "deploy\n\nTagrelay-Image: " + img + "\nTagrelay-Source-Commit: " + sha(src) + "\n"
	}
	// The only matching commit is the oldest, 300 commits down: beyond the limit.
	parent = commit(trail("team/a:1", '1'))
	for i := 0; i < 300; i++ {
		parent = commit(fmt.Sprintf("chore %d", i), parent)
	}
	if got := appCommits(st, plumbing.ZeroHash, parent, "", []string{"team/a:1"}, 100); len(got) != 0 {
		t.Errorf("appCommits() beyond the limit = %+v, want none", got)
	}
	if got := appCommits(st, plumbing.ZeroHash, parent, "", []string{"team/a:1"}, 400); len(got) != 1 {
		t.Errorf("appCommits() within the limit = %+v, want the commit", got)
	}
	// A parent the store lacks (a shallow cache) ends that line.
	lost := plumbing.NewHash(sha('e'))
	tip := commit(trail("team/a:2", '2'), lost)
	if got := appCommits(st, plumbing.ZeroHash, tip, "", []string{"docker.io/team/a:2"}, 100); len(got) != 1 || got[0].Commit != sha('2') {
		t.Errorf("appCommits() over a missing parent = %+v", got)
	}
	// Hostile: a thousand image trailers, more than maxAppCommits app commits.
	var b strings.Builder
	b.WriteString("deploy\n\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "Tagrelay-Image: team/x:%d\n", i)
	}
	b.WriteString("Tagrelay-Source-Commit: " + sha('9') + "\n")
	h := commit(b.String())
	for i := 0; i < 50; i++ {
		h = commit(trail("team/y:1", "0123456789abcdef"[i%16]), h)
		h = commit(fmt.Sprintf("deploy\n\nTagrelay-Image: team/y:1\nTagrelay-Source-Commit: %040x\n", i+1), h)
	}
	got := appCommits(st, plumbing.ZeroHash, h, "", []string{"team/y:1", "team/x:999"}, 1000)
	if len(got) != maxAppCommits {
		t.Errorf("appCommits() listed %d app commits, want at most %d", len(got), maxAppCommits)
	}
}
