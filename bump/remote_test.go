package bump

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

const kustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: harbor.example/team/api
    newTag: "0001" # pinned by CI
  - name: harbor.example/team/web
    newTag: v1
`

func seedInfra(t *testing.T, opts ...gittest.Option) (*gittest.Server, Remote) {
	t.Helper()
	s := gittest.New(t, append([]gittest.Option{gittest.WithBasicAuth("ci", "t0ken-secret")}, opts...)...)
	s.MustCreateRepo(t, "team/infra")
	s.MustCommit(t, "team/infra", "main", "seed", map[string]string{
		"envs/prod/kustomization.yaml": kustomization,
		"README.md":                    "infra\n",
	})
	return s, Remote{URL: s.RepoURL("team/infra"), Auth: &githttp.BasicAuth{Username: "ci", Password: "t0ken-secret"}}
}

func TestPushCommitsOnlyTheChange(t *testing.T) {
	t.Parallel()
	s, remote := seedInfra(t)
	parent, _ := s.RevParse("team/infra", "main")
	when := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	c, err := Push(context.Background(), remote, []string{"envs/prod/kustomization.yaml"},
		[]Target{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}},
		PushOptions{AuthorName: "Jane CI", AuthorEmail: "jane@example.com", Now: func() time.Time { return when }})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if c.Parent != parent || c.Branch != "main" || c.Attempts != 1 {
		t.Errorf("Push() = %+v, want parent %s on main in 1 attempt", c, parent)
	}
	want := strings.Replace(kustomization, `newTag: "0001"`, `newTag: "1a2b3c4d"`, 1)
	if got := s.MustReadFile(t, "team/infra", "main", "envs/prod/kustomization.yaml"); got != want {
		t.Errorf("file after push:\n%s\nwant:\n%s", got, want)
	}
	head, _ := s.RevParse("team/infra", "main")
	if head != c.Hash {
		t.Errorf("main = %s, want the pushed commit %s", head, c.Hash)
	}
	log, _ := s.Git("team/infra", "log", "-1", "--format=%an <%ae>|%at|%P|%s", "main")
	if want := "Jane CI <jane@example.com>|1795514400|" + parent + "|deploy: harbor.example/team/api:1a2b3c4d"; log != want {
		t.Errorf("commit = %q, want %q", log, want)
	}
	// Untouched file and tree entries are reused.
	if got, _ := s.Git("team/infra", "diff", "--name-only", parent, c.Hash); got != "envs/prod/kustomization.yaml" {
		t.Errorf("changed paths = %q", got)
	}
}

func TestPushReappliesAfterLosingARace(t *testing.T) {
	t.Parallel()
	var s *gittest.Server
	var raced atomic.Bool
	// The first receive-pack POST finds the branch moved by another pipeline.
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && raced.CompareAndSwap(false, true) {
				if _, err := s.Commit("team/infra", "main", "other pipeline", map[string]string{
					"envs/prod/kustomization.yaml": strings.Replace(kustomization, "newTag: v1", "newTag: v2", 1),
				}); err != nil {
					t.Error(err)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	s, remote := seedInfra(t, gittest.WithMiddleware(mw))
	c, err := Push(context.Background(), remote, []string{"envs"},
		[]Target{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}}, PushOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if c.Attempts != 2 {
		t.Errorf("Attempts = %d, want 2", c.Attempts)
	}
	got := s.MustReadFile(t, "team/infra", "main", "envs/prod/kustomization.yaml")
	if !strings.Contains(got, `newTag: "1a2b3c4d"`) || !strings.Contains(got, "newTag: v2") {
		t.Errorf("both changes must land, got:\n%s", got)
	}
	log, _ := s.Log("team/infra", "main")
	if len(log) != 3 {
		t.Errorf("history has %d commits, want 3 (linear)", len(log))
	}
}

func TestPushNoopPushesNothing(t *testing.T) {
	t.Parallel()
	s, remote := seedInfra(t)
	s.ResetRequests()
	c, err := Push(context.Background(), remote, []string{"envs/prod/kustomization.yaml"},
		[]Target{{Image: "harbor.example/team/web", Tag: "v1"}}, PushOptions{})
	if !errors.Is(err, ErrUnchanged) || c == nil || c.Result == nil || len(c.Unchanged) != 1 {
		t.Fatalf("Push() = %+v, %v; want ErrUnchanged with a result", c, err)
	}
	for _, r := range s.Requests() {
		if r.Service == "git-receive-pack" {
			t.Errorf("a no-op contacted receive-pack: %+v", r)
		}
	}
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	s, remote := seedInfra(t)
	before, _ := s.Refs("team/infra")
	for _, tc := range []struct {
		name   string
		remote Remote
		paths  []string
		class  error
		msg    string
	}{
		{"wrong password", Remote{URL: remote.URL, Auth: &githttp.BasicAuth{Username: "ci", Password: "nope"}}, []string{"envs"}, nil, "authenticating to " + remote.URL},
		{"missing branch", Remote{URL: remote.URL, Auth: remote.Auth, Branch: "nope"}, []string{"envs"}, errdefs.ErrNotFound, `branch "nope" not found`},
		{"missing repo", Remote{URL: s.RepoURL("team/none"), Auth: remote.Auth}, []string{"envs"}, errdefs.ErrNotFound, "not found"},
		{"missing file", remote, []string{"envs/dev/kustomization.yaml"}, errdefs.ErrInvalid, "no such file"},
		{"image absent", remote, []string{"README.md", "envs"}, ErrImageNotFound, "harbor.example/team/absent in README.md, envs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := "harbor.example/team/api"
			if tc.class == ErrImageNotFound {
				img = "harbor.example/team/absent"
			}
			_, err := Push(context.Background(), tc.remote, tc.paths, []Target{{Image: img, Tag: "x1"}}, PushOptions{})
			if err == nil {
				t.Fatalf("Push() = nil error, want %q", tc.msg)
			}
			if !strings.Contains(err.Error(), tc.msg) || (tc.class != nil && !errors.Is(err, tc.class)) {
				t.Errorf("Push() = %v, want %v containing %q", err, tc.class, tc.msg)
			}
			if strings.Contains(err.Error(), "t0ken-secret") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
	after, _ := s.Refs("team/infra")
	if len(after) != len(before) || after["refs/heads/main"] != before["refs/heads/main"] {
		t.Errorf("refs changed: %v -> %v", before, after)
	}
}

// raced is a server where another pipeline moves main just before each of our first races
// pushes arrives, as on a branch that many pipelines write to at once; pushes counts our
// pushes.
func raced(t *testing.T, races int32) (*gittest.Server, Remote, *atomic.Int32) {
	t.Helper()
	var s *gittest.Server
	var pushes atomic.Int32
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
				n := pushes.Add(1)
				if n > races {
					next.ServeHTTP(w, r)
					return
				}
				if _, err := s.Commit("team/infra", "main", "other pipeline", map[string]string{"other.txt": fmt.Sprint(n)}); err != nil {
					t.Error(err)
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	s, remote := seedInfra(t, gittest.WithMiddleware(mw))
	return s, remote, &pushes
}

// TestPushRetryBounds: a push that keeps losing races is retried until Retries (a count) or
// RetryTimeout (a time) is reached; then ErrRaceLost (exit 4) and our change is nowhere. A
// negative Retries never retries; with Retries 0 the count is not bounded (the race is won on
// the 13th attempt, beyond the ten retries of before).
func TestPushRetryBounds(t *testing.T) {
	t.Parallel()
	const forever = 1 << 30
	for _, tc := range []struct {
		name     string
		races    int32
		opts     PushOptions
		attempts int
		lands    bool
	}{
		{"count", forever, PushOptions{Retries: 2, Backoff: time.Millisecond}, 3, false},
		{"never", forever, PushOptions{Retries: -1}, 1, false},
		{"time", forever, PushOptions{RetryTimeout: time.Nanosecond, Backoff: time.Millisecond}, 1, false},
		{"no count", 12, PushOptions{Backoff: time.Millisecond}, 13, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, remote, pushes := raced(t, tc.races)
			c, err := Push(context.Background(), remote, []string{"envs"}, []Target{{Image: "harbor.example/team/api", Tag: "1a2b3c4d"}}, tc.opts)
			switch {
			case tc.lands && err != nil:
				t.Fatalf("Push() = %v, want it to land", err)
			case !tc.lands && (!errors.Is(err, ErrRaceLost) || !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "attempts in")):
				t.Fatalf("Push() = %v, want ErrRaceLost", err)
			}
			if c == nil || c.Attempts != tc.attempts || int(pushes.Load()) != tc.attempts {
				t.Errorf("Push() = %+v after %d pushes, want %d attempts", c, pushes.Load(), tc.attempts)
			}
			got := s.MustReadFile(t, "team/infra", "main", "envs/prod/kustomization.yaml")
			if landed := strings.Contains(got, `newTag: "1a2b3c4d"`); landed != tc.lands {
				t.Errorf("change landed = %v, want %v:\n%s", landed, tc.lands, got)
			}
		})
	}
}

// TestBackoff: the wait after n lost races is drawn uniformly in [0, unit·2^(n-1)] (full
// jitter: some pipelines retry at once, others late), capped at maxBackoff.
func TestBackoff(t *testing.T) {
	t.Parallel()
	const draws = 2000
	unit := 100 * time.Millisecond
	for losses, ceiling := range map[int]time.Duration{1: unit, 2: 2 * unit, 4: 8 * unit, 30: maxBackoff} {
		var sum, hi time.Duration
		lo := ceiling
		for range draws {
			w := backoff(unit, losses)
			if w < 0 || w > ceiling {
				t.Fatalf("backoff(%s, %d) = %s, want within [0, %s]", unit, losses, w, ceiling)
			}
			sum, lo, hi = sum+w, min(lo, w), max(hi, w)
		}
		// Uniform: the mean is near the middle, and both ends are reached.
		if mean := sum / draws; mean < ceiling*4/10 || mean > ceiling*6/10 || lo > ceiling/10 || hi < ceiling*9/10 {
			t.Errorf("backoff(%s, %d): mean %s, range [%s, %s]; want uniform in [0, %s]", unit, losses, mean, lo, hi, ceiling)
		}
	}
}
