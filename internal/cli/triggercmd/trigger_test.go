package triggercmd

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
)

const (
	cliTriggerToken = "glptt-cli-secret-0123456789"
	cliAPIToken     = "glpat-cli-secret-abcdefghij"
	cliGitHubToken  = "ghp_cli_secret_abcdefghij0123456789"
)

func TestTriggerGitLab(t *testing.T) {
	t.Parallel()
	failing := []fakegitlab.Job{{Name: "build", Stage: "build", Status: "success"}, {Name: "deploy", Stage: "deploy", Status: "failed"}}
	tests := []struct {
		name     string
		cfg      fakegitlab.Config
		args     []string
		code     int
		stdout   string   // substring
		stderr   string   // substring of the last line
		progress []string // lines of stderr, each up to the elapsed time
	}{
		{name: "success", args: []string{"--wait"}, stdout: "pipeline 1001 success: https://gitlab.example.com/group/app/-/pipelines/1001",
			progress: []string{"pipeline 1001: created after ", "pipeline 1001: pending after ", "pipeline 1001: running after ", "pipeline 1001: success after "}},
		{name: "no wait", stdout: "pipeline 1001 created: https://gitlab.example.com/group/app/-/pipelines/1001"},
		{name: "failed pipeline", cfg: fakegitlab.Config{Statuses: []string{"running", "failed"}, Jobs: failing}, args: []string{"--wait"}, code: 1,
			stdout: "pipeline 1001 failed: https://gitlab.example.com/group/app/-/pipelines/1001\n  failed deploy: https://gitlab.example.com/group/app/-/jobs/100101",
			stderr: "tagrelay: pipeline 1001 failed (https://gitlab.example.com/group/app/-/pipelines/1001): deploy [failed] https://gitlab.example.com/group/app/-/jobs/100101; open the failed jobs' logs"},
		{name: "canceled pipeline", cfg: fakegitlab.Config{Statuses: []string{"running", "canceled"}, Jobs: []fakegitlab.Job{{Name: "e2e", Status: "canceled"}}}, args: []string{"--wait"}, code: 1,
			stderr: "pipeline 1001 canceled"},
		{name: "timeout", cfg: fakegitlab.Config{Statuses: []string{"pending", "running"}}, args: []string{"--wait", "--timeout", "100ms"}, code: 1,
			stderr: "timed out waiting for pipeline 1001 (https://gitlab.example.com/group/app/-/pipelines/1001), last status running"},
		{name: "bad trigger token", args: []string{"--trigger-token", "glptt-wrong-token-1"}, code: 1,
			stderr: "GitLab answered 404 Not Found: the trigger token is not valid for this project"},
		{name: "bad API token for following", args: []string{"--wait", "--token", "glpat-wrong-token-2"}, code: 1,
			stderr: "pipeline 1001 started (https://gitlab.example.com/group/app/-/pipelines/1001), but following it failed"},
		{name: "invalid variable", args: []string{"--var", "1BAD=x"}, code: 2, stderr: `invalid --var "1BAD=x"; use --var KEY=VALUE`},
		{name: "variable without value", args: []string{"--var", "NOEQUALS"}, code: 2, stderr: `invalid --var "NOEQUALS"`},
		{name: "no project", args: []string{"--project", ""}, code: 2, stderr: "no project given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.TriggerToken, tc.cfg.APIToken = cliTriggerToken, cliAPIToken
			fake := fakegitlab.New(t, tc.cfg)
			tokenFile := clitest.WriteFile(t, t.TempDir(), "trigger", cliTriggerToken+"\n")
			args := []string{"trigger", "gitlab", "--gitlab-url", fake.URL, "--project", "group/app", "--ref", "main",
				"--token", cliAPIToken, "--var", "IMAGE_TAG=1a2b3c4d", "--poll-interval", "1ms", "--log-level", "debug"}
			if !strings.Contains(strings.Join(tc.args, " "), "--trigger-token") {
				args = append(args, "--trigger-token-file", tokenFile) // a file wins over the flag
			}
			args = append(args, tc.args...)
			r := runCLI(t, nil, args...)
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code != tc.code || !strings.Contains(r.Stdout, tc.stdout) || !strings.Contains(lines[len(lines)-1], tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout ⊇ %q, last stderr line ⊇ %q", r.Code, tc.code, r.Stdout, r.Stderr, tc.stdout, tc.stderr)
			}
			for _, p := range tc.progress {
				if !strings.Contains("\n"+r.Stderr, "\n"+p) {
					t.Errorf("stderr has no line %q…:\n%s", p, r.Stderr)
				}
			}
			clitest.AssertNoSecrets(t, r, cliTriggerToken, cliAPIToken, "glptt-wrong-token-1", "glpat-wrong-token-2")
		})
	}
}

func TestTriggerGitLabOutputs(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{APIToken: cliAPIToken})
	dotenv := filepath.Join(t.TempDir(), "trigger.env")
	r := runCLI(t, nil, "trigger", "gitlab", "--gitlab-url", fake.URL, "--project", "group/app", "--ref", "main",
		"--token", cliAPIToken, "--wait", "--poll-interval", "1ms", "--dotenv", dotenv, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	want := "TAGRELAY_PIPELINE_ID=1001\nTAGRELAY_PIPELINE_URL=https://gitlab.example.com/group/app/-/pipelines/1001\nTAGRELAY_PIPELINE_STATUS=success\n"
	if diff := cmp.Diff(want, clitest.ReadFile(t, dotenv)); diff != "" {
		t.Errorf("dotenv (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.Stdout, `"forge": "gitlab"`) || !strings.Contains(r.Stdout, `"status": "success"`) {
		t.Errorf("JSON result = %s", r.Stdout)
	}
	if req := fake.Requests()[0]; req.Path != "/projects/group%2Fapp/pipeline" || req.Header.Get("PRIVATE-TOKEN") != cliAPIToken {
		t.Errorf("without a trigger token, request = %s %s", req.Method, req.Path)
	}
}

func TestTriggerGitLabNetworkError(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "trigger", "gitlab", "--gitlab-url", "http://127.0.0.1:1", "--project", "group/app", "--ref", "main", "--trigger-token", cliTriggerToken)
	if r.Code != 1 || !strings.Contains(r.Stderr, "reaching http://127.0.0.1:1/api/v4") || !strings.Contains(r.Stderr, "check --gitlab-url") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	clitest.AssertNoSecrets(t, r, cliTriggerToken)
}

func TestTriggerGitHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    fakegithub.Config
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "success", args: []string{"--workflow", "deploy.yml", "--ref", "main", "--input", "tag=1a2b3c4d", "--wait"},
			stdout: "run 30433643 completed (success): https://github.com/octo-org/app/actions/runs/30433643"},
		{name: "failure", cfg: fakegithub.Config{Conclusion: "failure", Jobs: []fakegithub.Job{{Name: "deploy", Conclusion: "failure"}}},
			args: []string{"--workflow", "deploy.yml", "--ref", "main", "--wait"}, code: 1,
			stdout: "  failure deploy: https://github.com/octo-org/app/actions/runs/30433643/job/399444496",
			stderr: "tagrelay: workflow run 30433643 failure (https://github.com/octo-org/app/actions/runs/30433643): deploy [failure]"},
		{name: "timeout", cfg: fakegithub.Config{Steps: 1 << 30}, args: []string{"--workflow", "deploy.yml", "--ref", "main", "--wait", "--timeout", "200ms"}, code: 1,
			stderr: "timed out waiting for workflow run 30433643"},
		{name: "repository dispatch", args: []string{"--event", "deploy", "--payload", "image=app:1a2b3c4d"}, stdout: "sent deploy event to octo-org/app"},
		{name: "bad token", args: []string{"--workflow", "deploy.yml", "--ref", "main", "--token", "ghp_wrong_token_123"}, code: 1,
			stderr: "GitHub answered 401 Unauthorized: Bad credentials; the token is invalid"},
		{name: "event with wait", args: []string{"--event", "deploy", "--wait"}, code: 2, stderr: "--event cannot be combined"},
		{name: "invalid input", args: []string{"--workflow", "deploy.yml", "--ref", "main", "--input", "a b=c"}, code: 2, stderr: `invalid --input "a b=c"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Token = cliGitHubToken
			fake := fakegithub.New(t, tc.cfg)
			args := append([]string{"trigger", "github", "--github-url", fake.URL, "--repo", "octo-org/app", "--token", cliGitHubToken,
				"--poll-interval", "1ms"}, tc.args...)
			r := runCLI(t, nil, args...)
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code != tc.code || !strings.Contains(r.Stdout, tc.stdout) || !strings.Contains(lines[len(lines)-1], tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout ⊇ %q, last stderr line ⊇ %q", r.Code, tc.code, r.Stdout, r.Stderr, tc.stdout, tc.stderr)
			}
			clitest.AssertNoSecrets(t, r, cliGitHubToken, "ghp_wrong_token_123")
		})
	}
}

func TestTriggerProgressOnATerminal(t *testing.T) {
	t.Parallel()
	fake := fakegitlab.New(t, fakegitlab.Config{APIToken: cliAPIToken, Statuses: []string{"running", "success"}})
	var stdout, stderr strings.Builder
	env := clirun.NewEnv(strings.NewReader(""), &stdout, &stderr, nil)
	env.TTY = true
	code := clirun.Run(context.Background(), env, clitest.App(env, NewCommand), []string{"tagrelay", "trigger", "gitlab", "--gitlab-url", fake.URL,
		"--project", "group/app", "--ref", "main", "--token", cliAPIToken, "--wait", "--poll-interval", "1ms", "--log-level", "warn"})
	want := "\r\033[Kpipeline 1001: running after 0s  https://gitlab.example.com/group/app/-/pipelines/1001" +
		"\r\033[Kpipeline 1001: success after 0s  https://gitlab.example.com/group/app/-/pipelines/1001\n"
	got := regexp.MustCompile(`after [0-9]+s`).ReplaceAllString(stderr.String(), "after 0s")
	if code != 0 || got != want {
		t.Errorf("exit %d, stderr %q, want %q", code, got, want)
	}
}
