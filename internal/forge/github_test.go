package forge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/internal/forge"
)

const githubToken = "ghp_0123456789abcdefghij0123456789abcd"

func newGitHub(t *testing.T, url, token string) *forge.GitHub {
	t.Helper()
	gh, err := forge.NewGitHub(url, token)
	if err != nil {
		t.Fatal(err)
	}
	return gh
}

func TestGitHubDispatchAndWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        fakegithub.Config
		wantStatus []string
		wantJobs   []string
	}{
		{"success", fakegithub.Config{}, []string{"queued/", "in_progress/", "completed/success"}, nil},
		{"failure", fakegithub.Config{Conclusion: "failure", AppearAfter: 3, Jobs: []fakegithub.Job{{Name: "build", Conclusion: "success"}, {Name: "deploy", Conclusion: "failure"}}},
			[]string{"queued/", "in_progress/", "completed/failure"}, []string{"deploy [failure] https://github.com/octo-org/app/actions/runs/30433643/job/399444497"}},
		{"cancelled", fakegithub.Config{Conclusion: "cancelled", Steps: 1, Jobs: []fakegithub.Job{{Name: "deploy", Conclusion: "cancelled"}}},
			[]string{"queued/", "completed/cancelled"}, []string{"deploy [cancelled] https://github.com/octo-org/app/actions/runs/30433643/job/399444496"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Token = githubToken
			fake := fakegithub.New(t, tc.cfg)
			gh := newGitHub(t, fake.URL, githubToken)
			ctx := context.Background()
			run, err := gh.DispatchWorkflow(ctx, "octo-org/app", "deploy.yml", "main", map[string]string{"env": "prod"}, fast())
			if err != nil {
				t.Fatal(err)
			}
			// The run from an hour ago (30433642) is not ours.
			if run.ID != 30433643 || run.Ref != "main" || run.URL != "https://github.com/octo-org/app/actions/runs/30433643" {
				t.Errorf("DispatchWorkflow() = %+v, want the new run 30433643", run)
			}
			var seen []string
			got, err := gh.WaitRun(ctx, "octo-org/app", run.ID, fast(), forge.WithProgress(func(r forge.Run) { seen = append(seen, r.Status+"/"+r.Conclusion) }))
			if diff := cmp.Diff(tc.wantStatus, seen); diff != "" {
				t.Errorf("statuses seen (-want +got):\n%s", diff)
			}
			checkOutcome(t, "WaitRun", err, tc.wantJobs)
			if got.Status != "completed" {
				t.Errorf("WaitRun() = %+v", got)
			}
			var dispatch *fakegithub.Request
			for _, r := range fake.Requests() {
				if r.Method == "POST" {
					dispatch = &r
				}
				if auth := r.Header.Get("Authorization"); auth != "Bearer "+githubToken {
					t.Errorf("%s %s sent Authorization %q", r.Method, r.Path, auth)
				}
			}
			if dispatch == nil || dispatch.Path != "/repos/octo-org/app/actions/workflows/deploy.yml/dispatches" ||
				strings.TrimSpace(dispatch.Body) != `{"ref":"main","inputs":{"env":"prod"}}` {
				t.Errorf("dispatch request = %+v", dispatch)
			}
		})
	}
}

func TestGitHubRepositoryDispatch(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.Config{Token: githubToken})
	gh := newGitHub(t, fake.URL, githubToken)
	if err := gh.DispatchEvent(context.Background(), "octo-org/app", "deploy", map[string]string{"image": "app:1a2b3c4d"}); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{"event_type": "deploy", "client_payload": map[string]any{"image": "app:1a2b3c4d"}}}
	if diff := cmp.Diff(want, fake.Events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestGitHubErrors(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.Config{Token: githubToken})
	ctx := context.Background()
	tests := []struct {
		name, url, token string
		call             func(*forge.GitHub) error
		code             int
		msg              string
	}{
		{"bad token", fake.URL, "ghp_wrong", func(gh *forge.GitHub) error {
			_, err := gh.DispatchWorkflow(ctx, "octo-org/app", "deploy.yml", "main", nil, fast())
			return err
		}, 1, "GitHub answered 401 Unauthorized: Bad credentials"},
		{"unknown workflow", fake.URL, githubToken, func(gh *forge.GitHub) error {
			_, err := gh.DispatchWorkflow(ctx, "octo-org/app", "nope.yml", "main", nil, fast())
			return err
		}, 4, "404 Not Found"},
		{"unknown ref", fake.URL, githubToken, func(gh *forge.GitHub) error {
			_, err := gh.DispatchWorkflow(ctx, "octo-org/app", "deploy.yml", "nope", nil, fast())
			return err
		}, 2, "No ref found for: nope"},
		{"bad repo syntax", fake.URL, githubToken, func(gh *forge.GitHub) error {
			return gh.DispatchEvent(ctx, "app", "deploy", nil)
		}, 2, `repository "app" is not OWNER/NAME`},
		{"network error", "http://127.0.0.1:1", githubToken, func(gh *forge.GitHub) error {
			return gh.DispatchEvent(ctx, "octo-org/app", "deploy", nil)
		}, 1, "reaching http://127.0.0.1:1/api/v3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(newGitHub(t, tc.url, tc.token))
			if err == nil || exitcode.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error = %v (exit %d), want exit %d containing %q", err, exitcode.Code(err), tc.code, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), githubToken) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestGitHubWaitTimeout(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.Config{Token: githubToken, Steps: 1 << 20})
	gh := newGitHub(t, fake.URL, githubToken)
	run, err := gh.DispatchWorkflow(context.Background(), "octo-org/app", "deploy.yml", "main", nil, fast())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // long enough for a loaded machine; the run never ends within it
	defer cancel()
	_, err = gh.WaitRun(ctx, "octo-org/app", run.ID, fast())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last status in_progress") {
		t.Errorf("WaitRun() past its deadline = %v", err)
	}
}

func TestGitHubOpenPullRequest(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/infra", Token: githubToken})
	gh := newGitHub(t, fake.URL, githubToken)
	ctx := context.Background()
	cr := forge.ChangeRequest{SourceBranch: "tagrelay/app-1a2b3c4d", TargetBranch: "main", Title: "Deploy app 1a2b3c4d", Description: "bump", Labels: []string{"deploy"}}
	first, err := gh.OpenPullRequest(ctx, "octo-org/infra", cr)
	if err != nil {
		t.Fatal(err)
	}
	cr.Title = "Deploy app 5e6f7a8b"
	second, err := gh.OpenPullRequest(ctx, "octo-org/infra", cr)
	if err != nil {
		t.Fatal(err)
	}
	want := []*forge.Change{
		{Number: 1347, URL: "https://github.com/octo-org/infra/pull/1347", Created: true},
		{Number: 1347, URL: "https://github.com/octo-org/infra/pull/1347", Created: false},
	}
	if diff := cmp.Diff(want, []*forge.Change{first, second}); diff != "" {
		t.Errorf("OpenPullRequest() twice (-want +got):\n%s", diff)
	}
	if pulls := fake.Pulls(); len(pulls) != 1 || pulls[0]["title"] != "Deploy app 5e6f7a8b" {
		t.Errorf("pull requests = %+v", pulls)
	}
}
