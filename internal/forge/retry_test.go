package forge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/apitest"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// quick retries fast, as often as the defaults.
func quick() forge.Option {
	return forge.WithRetry(forge.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 2 * time.Second})
}

func count(reqs []apitest.Request, method, prefix string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// TestGitLabRetries: reads are retried through 5xx answers; a pipeline is created again only
// when GitLab cannot have acted on the first request (429), never after a 502 it may have acted on.
func TestGitLabRetries(t *testing.T) {
	t.Parallel()
	const pipeline = "/projects/group%2Fapp/pipeline"
	for _, tc := range []struct {
		name    string
		faults  []apitest.Fault
		code    int // exit code of the create-and-wait, 0 for success
		creates int // POSTs the fake received
	}{
		{"502 while waiting", []apitest.Fault{{Method: "GET", Path: "/projects/*/pipelines/*", Status: 502, Times: 3}}, 0, 1},
		{"429 on create, with Retry-After", []apitest.Fault{{Method: "POST", Path: pipeline, Status: 429, Times: 2, RetryAfter: "0"}}, 0, 3},
		{"502 on create is not repeated", []apitest.Fault{{Method: "POST", Path: pipeline, Status: 502, Times: 1}}, 1, 1},
		{"reads failing past every retry", []apitest.Fault{{Method: "GET", Path: "/projects/*/pipelines/*", Status: 503, Times: 1000}}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegitlab.New(t, fakegitlab.Config{APIToken: apiToken, Faults: tc.faults})
			gl, err := forge.NewGitLab(fake.URL, apiToken, quick())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			run, err := gl.CreatePipeline(ctx, "group/app", "main", nil)
			if err == nil {
				_, err = gl.WaitPipeline(ctx, "group/app", run.ID, fast())
			}
			if exitcode.Code(err) != tc.code {
				t.Errorf("create and wait = %v (exit %d), want exit %d", err, exitcode.Code(err), tc.code)
			}
			if got := count(fake.Requests(), "POST", pipeline); got != tc.creates {
				t.Errorf("%d POST %s, want %d", got, pipeline, tc.creates)
			}
			if tc.code != 0 && !errors.Is(err, errdefs.ErrUnavailable) {
				t.Errorf("error %v is not marked unavailable", err)
			}
		})
	}
}

// TestGitHubRetries: a 502 or a rate limit while a run is followed does not end the wait; a
// dispatch is sent again only after a 429.
func TestGitHubRetries(t *testing.T) {
	t.Parallel()
	const dispatch = "/repos/octo-org/app/actions/workflows/deploy.yml/dispatches"
	for _, tc := range []struct {
		name       string
		faults     []apitest.Fault
		dispatches int
	}{
		{"502 on the run", []apitest.Fault{{Method: "GET", Path: "/repos/*/*/actions/runs/*", Status: 502, Times: 3}}, 1},
		{"rate limited listing", []apitest.Fault{{Method: "GET", Path: "/repos/*/*/actions/workflows/*/runs", Status: 429, Times: 2, RetryAfter: "0"}}, 1},
		{"429 on dispatch", []apitest.Fault{{Method: "POST", Path: dispatch, Status: 429, Times: 1, RetryAfter: "0"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := fakegithub.New(t, fakegithub.Config{Token: githubToken, Faults: tc.faults})
			gh, err := forge.NewGitHub(fake.URL, githubToken, quick())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			run, err := gh.DispatchWorkflow(ctx, "octo-org/app", "deploy.yml", "main", nil, fast())
			if err != nil {
				t.Fatal(err)
			}
			if got, err := gh.WaitRun(ctx, "octo-org/app", run.ID, fast()); err != nil || got.Conclusion != "success" {
				t.Errorf("WaitRun() = %+v, %v; want success", got, err)
			}
			if got := count(fake.Requests(), "POST", dispatch); got != tc.dispatches {
				t.Errorf("%d dispatches, want %d", got, tc.dispatches)
			}
		})
	}
}

// TestWaitOutlastsRetries: with one try per call, a wait still polls through a few failed reads
// (a forge being upgraded), and gives up when they go on.
func TestWaitOutlastsRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		failures int
		ok       bool
	}{{3, true}, {50, false}} {
		fake := fakegitlab.New(t, fakegitlab.Config{APIToken: apiToken,
			Faults: []apitest.Fault{{Method: "GET", Path: "/projects/*/pipelines/*", Status: http.StatusBadGateway, Times: tc.failures}}})
		gl, err := forge.NewGitLab(fake.URL, apiToken, forge.WithRetry(forge.Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = gl.WaitPipeline(context.Background(), "group/app", 1001, fast())
		if tc.ok {
			// Pipeline 1001 does not exist in a fresh fake: the wait got past the failures.
			if !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("%d failures: WaitPipeline() = %v, want the 404 behind them", tc.failures, err)
			}
		} else if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "502 Bad Gateway") {
			t.Errorf("%d failures: WaitPipeline() = %v, want the 502", tc.failures, err)
		}
	}
}

// TestRetryAfterTooLong: a Retry-After beyond the longest wait ends the retries at once.
func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{APIToken: apiToken,
		Faults: []apitest.Fault{{Method: "POST", Path: "/projects/*/pipeline", Status: 429, Times: 1, RetryAfter: "3600"}}})
	gl, err := forge.NewGitLab(fake.URL, apiToken, quick())
	if err != nil {
		t.Fatal(err)
	}
	_, err = gl.CreatePipeline(context.Background(), "group/app", "main", nil)
	if !errors.Is(err, errdefs.ErrUnavailable) || count(fake.Requests(), "POST", "/projects/") != 1 {
		t.Errorf("CreatePipeline() = %v after %d tries, want the 429 after one", err, count(fake.Requests(), "POST", "/projects/"))
	}
}
