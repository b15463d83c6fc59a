package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/forge"
)

const (
	triggerToken = "glptt-0123456789abcdef"
	apiToken     = "glpat-abcdefghij0123456789"
)

func fast() forge.WaitOption { return forge.WithPollInterval(time.Millisecond) }

func newGitLab(t *testing.T, url, token string) *forge.GitLab {
	t.Helper()
	gl, err := forge.NewGitLab(url, token)
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

func TestGitLabTriggerAndWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        fakegitlab.Config
		wantStatus []string
		wantJobs   []string // failed jobs, "" for success
	}{
		{"success", fakegitlab.Config{}, []string{"created", "pending", "running", "success"}, nil},
		{"failed", fakegitlab.Config{Statuses: []string{"pending", "running", "failed"}, Jobs: []fakegitlab.Job{
			{Name: "build", Stage: "build", Status: "success"},
			{Name: "lint", Stage: "test", Status: "failed", AllowFailure: true},
			{Name: "deploy", Stage: "deploy", Status: "failed"},
		}}, []string{"pending", "running", "failed"}, []string{"deploy [failed] https://gitlab.example.com/group/app/-/jobs/100102"}},
		{"canceled", fakegitlab.Config{Statuses: []string{"running", "canceled"}, Jobs: []fakegitlab.Job{{Name: "e2e", Stage: "test", Status: "canceled"}}},
			[]string{"running", "canceled"}, []string{"e2e [canceled] https://gitlab.example.com/group/app/-/jobs/100100"}},
		{"blocked on a manual job", fakegitlab.Config{Statuses: []string{"running", "manual"}, Jobs: []fakegitlab.Job{{Name: "approve", Stage: "deploy", Status: "manual"}}},
			[]string{"running", "manual"}, []string{"approve [manual] https://gitlab.example.com/group/app/-/jobs/100100"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.TriggerToken, tc.cfg.APIToken = triggerToken, apiToken
			fake := fakegitlab.New(t, tc.cfg)
			gl := newGitLab(t, fake.URL, apiToken)
			ctx := context.Background()
			run, err := gl.TriggerPipeline(ctx, "group/app", "main", map[string]string{"DEPLOY": "1"}, triggerToken)
			if err != nil {
				t.Fatal(err)
			}
			var seen []string
			got, err := gl.WaitPipeline(ctx, "group/app", run.ID, fast(), forge.WithProgress(func(r forge.Run) { seen = append(seen, r.Status) }))
			if diff := cmp.Diff(tc.wantStatus, seen); diff != "" {
				t.Errorf("statuses seen (-want +got):\n%s", diff)
			}
			checkOutcome(t, "WaitPipeline", err, tc.wantJobs)
			if got.URL != "https://gitlab.example.com/group/app/-/pipelines/1001" || got.Status != tc.wantStatus[len(tc.wantStatus)-1] {
				t.Errorf("WaitPipeline() run = %+v", got)
			}
			// The trigger token travelled in the body, never in a URL or header.
			req := fake.Requests()[0]
			var body map[string]any
			json.Unmarshal([]byte(req.Body), &body)
			if req.Method != http.MethodPost || req.Path != "/projects/group%2Fapp/trigger/pipeline" || body["token"] != triggerToken ||
				body["ref"] != "main" || body["variables"].(map[string]any)["DEPLOY"] != "1" {
				t.Errorf("trigger request = %+v", req)
			}
			for _, r := range fake.Requests() {
				if strings.Contains(r.Path+r.Query.Encode(), triggerToken) {
					t.Errorf("trigger token in URL: %s?%s", r.Path, r.Query.Encode())
				}
			}
		})
	}
}

func TestGitLabCreatePipelineWithAPIToken(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{APIToken: apiToken, ProjectID: 42})
	gl := newGitLab(t, fake.URL+"/api/v4", apiToken)
	run, err := gl.CreatePipeline(context.Background(), "42", "main", map[string]string{"B": "2", "A": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != 1001 || run.Status != "created" || run.Conclusion != "" {
		t.Errorf("CreatePipeline() = %+v", run)
	}
	req := fake.Requests()[0]
	want := `{"ref":"main","variables":[{"key":"A","value":"1","variable_type":"env_var"},{"key":"B","value":"2","variable_type":"env_var"}]}`
	if req.Path != "/projects/42/pipeline" || req.Header.Get("PRIVATE-TOKEN") != apiToken || strings.TrimSpace(req.Body) != want {
		t.Errorf("create request = %s %s %q, token %q", req.Method, req.Path, req.Body, req.Header.Get("PRIVATE-TOKEN"))
	}
}

func TestGitLabErrors(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{TriggerToken: triggerToken, APIToken: apiToken})
	ctx := context.Background()
	tests := []struct {
		name string
		call func(gl *forge.GitLab) error
		tok  string
		url  string
		code int
		msg  string
	}{
		{"bad trigger token", func(gl *forge.GitLab) error {
			_, err := gl.TriggerPipeline(ctx, "group/app", "main", nil, "glptt-wrong")
			return err
		}, "", fake.URL, 1, "the trigger token is not valid for this project, or the project does not exist"},
		{"bad API token", func(gl *forge.GitLab) error {
			_, err := gl.CreatePipeline(ctx, "group/app", "main", nil)
			return err
		}, "glpat-wrong", fake.URL, 1, "GitLab answered 401 Unauthorized"},
		{"unknown ref", func(gl *forge.GitLab) error {
			_, err := gl.CreatePipeline(ctx, "group/app", "nope", nil)
			return err
		}, apiToken, fake.URL, 2, `400 Bad Request: {"base":["Reference not found"]}`},
		{"private project without token", func(gl *forge.GitLab) error {
			_, err := gl.Pipeline(ctx, "group/app", 1)
			return err
		}, "", fake.URL, 4, "GitLab answered 404 Not Found"},
		{"network error", func(gl *forge.GitLab) error {
			_, err := gl.TriggerPipeline(ctx, "group/app", "main", nil, triggerToken)
			return err
		}, "", "http://127.0.0.1:1", 1, "reaching http://127.0.0.1:1/api/v4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(newGitLab(t, tc.url, tc.tok))
			if err == nil || exitcode.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) || errdefs.Hint(err) == "" {
				t.Errorf("error = %v (exit %d, hint %q), want exit %d containing %q and a hint", err, exitcode.Code(err), errdefs.Hint(err), tc.code, tc.msg)
			}
			if err != nil && (strings.Contains(err.Error(), triggerToken) || strings.Contains(err.Error(), apiToken)) {
				t.Errorf("error shows a token: %v", err)
			}
		})
	}
}

func TestGitLabWaitTimeout(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{APIToken: apiToken, Statuses: []string{"pending", "running"}})
	gl := newGitLab(t, fake.URL, apiToken)
	run, err := gl.CreatePipeline(context.Background(), "group/app", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // long enough for a loaded machine to see both statuses; the last repeats
	defer cancel()
	_, err = gl.WaitPipeline(ctx, "group/app", run.ID, fast())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last status running") || exitcode.Code(err) != exitcode.Failure {
		t.Errorf("WaitPipeline() past its deadline = %v, want DeadlineExceeded with the last status (exit 1)", err)
	}
}

func TestGitLabOpenMergeRequest(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{Project: "group/infra", APIToken: apiToken})
	gl := newGitLab(t, fake.URL, apiToken)
	ctx := context.Background()
	cr := forge.ChangeRequest{SourceBranch: "tagrelay/app-1a2b3c4d", TargetBranch: "main", Title: "Deploy app 1a2b3c4d",
		Description: "bump", Labels: []string{"deploy"}, RemoveSourceBranch: true}
	first, err := gl.OpenMergeRequest(ctx, "group/infra", cr)
	if err != nil {
		t.Fatal(err)
	}
	cr.Title, cr.Labels = "Deploy app 5e6f7a8b", []string{"deploy", "app"}
	second, err := gl.OpenMergeRequest(ctx, "group/infra", cr)
	if err != nil {
		t.Fatal(err)
	}
	want := []*forge.Change{
		{Number: 1, URL: "https://gitlab.example.com/group/infra/-/merge_requests/1", Created: true},
		{Number: 1, URL: "https://gitlab.example.com/group/infra/-/merge_requests/1", Created: false},
	}
	if diff := cmp.Diff(want, []*forge.Change{first, second}); diff != "" {
		t.Errorf("OpenMergeRequest() twice (-want +got):\n%s", diff)
	}
	mrs := fake.MergeRequests()
	if len(mrs) != 1 || mrs[0]["title"] != "Deploy app 5e6f7a8b" || mrs[0]["should_remove_source_branch"] != true ||
		!cmp.Equal(mrs[0]["labels"], []string{"deploy", "app"}) {
		t.Errorf("merge requests = %+v", mrs)
	}
}
