package bumpcmd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

func TestBumpMergeRequest(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/infra", APIToken: gitToken})
	main, _ := s.RevParse("team/infra", "main")
	dotenv := filepath.Join(t.TempDir(), "bump.env")
	args := []string{"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web",
		"--tag", "2b2b2b2b", "--no-verify-image", "--merge-request", "--gitlab-url", gl.URL, "--label", "deploy", "--dotenv", dotenv}
	got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken}, args...)
	assertNoToken(t, got)
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	if now, _ := s.RevParse("team/infra", "main"); now != main {
		t.Errorf("main moved to %s; the change belongs on the merge request branch", now)
	}
	if v := s.MustReadFile(t, "team/infra", "tagrelay/web-2b2b2b2b", "chart/values.yaml"); !strings.Contains(v, `tag: "2b2b2b2b"`) {
		t.Errorf("head branch values = %s", v)
	}
	mrs := gl.MergeRequests()
	if len(mrs) != 1 || mrs[0]["source_branch"] != "tagrelay/web-2b2b2b2b" || mrs[0]["target_branch"] != "main" ||
		mrs[0]["title"] != "deploy: harbor.example/team/web:2b2b2b2b" {
		t.Fatalf("merge requests = %v", mrs)
	}
	url, _ := mrs[0]["web_url"].(string)
	if !strings.Contains(got.Stdout, "opened "+url) || !strings.Contains(clitest.ReadFile(t, dotenv), "TAGRELAY_MR_URL="+url+"\n") {
		t.Errorf("stdout %q / dotenv %q lack the merge request URL %s", got.Stdout, clitest.ReadFile(t, dotenv), url)
	}
	// A second run of the same bump updates the same request.
	got = runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken}, args...)
	if got.Code != 0 || !strings.Contains(got.Stdout, "updated "+url) || len(gl.MergeRequests()) != 1 {
		t.Errorf("re-run: exit %d, stdout %q, stderr %q, %d requests", got.Code, got.Stdout, got.Stderr, len(gl.MergeRequests()))
	}
}

func TestBumpPullRequest(t *testing.T) {
	t.Parallel()
	s := gittest.New(t, gittest.WithBasicAuth("x-access-token", gitToken))
	s.MustCreateRepo(t, "octo-org/infra")
	s.MustCommit(t, "octo-org/infra", "main", "seed", map[string]string{"prod/deployment.yaml": deployment})
	gh := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/infra", Token: gitToken})
	// GitHub Actions' job token, for its own server (plain HTTP here: --insecure).
	got := runCLI(t, map[string]string{"GITHUB_TOKEN": gitToken, "GITHUB_SERVER_URL": s.URL}, "bump", "--repo", s.RepoURL("octo-org/infra"), "--file", "prod",
		"--image", "harbor.example/team/api", "--tag", "3c3c3c3c", "--no-verify-image", "--pull-request", "--github-url", gh.URL, "--head-branch", "deploy/api", "--insecure")
	assertNoToken(t, got)
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	pulls := gh.Pulls()
	head, _ := pulls[0]["head"].(map[string]any)
	if len(pulls) != 1 || head["ref"] != "deploy/api" {
		t.Fatalf("pulls = %v", pulls)
	}
	if d := s.MustReadFile(t, "octo-org/infra", "deploy/api", "prod/deployment.yaml"); strings.Count(d, "api:3c3c3c3c") != 2 {
		t.Errorf("head branch deployment = %s", d)
	}
}

func TestBumpChangeRequestBadInput(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/infra", APIToken: "glpat-other"})
	base := []string{"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web", "--tag", "4d4d4d4d", "--no-verify-image"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"both kinds", []string{"--merge-request", "--pull-request"}, 2, "--merge-request and --pull-request both given"},
		{"API refuses the token", []string{"--merge-request", "--gitlab-url", gl.URL}, 1, "the change is on branch tagrelay/web-4d4d4d4d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken}, append(base, tc.args...)...)
			assertNoToken(t, got)
			if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", got.Code, got.Stderr, tc.code, tc.msg)
			}
		})
	}
	if len(gl.MergeRequests()) != 0 {
		t.Errorf("a merge request was opened")
	}
}

// TestBumpMergeRequestPrivateCA: the TLS flags reach the forge's API: a GitLab served over HTTPS
// with a certificate of a private CA is trusted with --ca-file or CA_BUNDLE (the PEM itself, as
// a GitLab variable holds it), and refused without.
func TestBumpMergeRequestPrivateCA(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/infra", APIToken: gitToken, TLS: true})
	if !strings.HasPrefix(gl.URL, "https://") {
		t.Fatalf("fake GitLab at %s, want https", gl.URL)
	}
	pem := clitest.ReadFile(t, gl.CAFile)
	for _, tc := range []struct {
		name  string
		vars  map[string]string
		extra []string
		code  int
		msg   string
		mrs   int
	}{
		{"CA not trusted", nil, nil, 1, "certificate", 0},
		{"--ca-file", nil, []string{"--ca-file", gl.CAFile}, 0, "opened https://gitlab.example.com/team/infra/-/merge_requests/1", 1},
		{"CA_BUNDLE holding the PEM", map[string]string{"CA_BUNDLE": pem}, nil, 0, "updated https://gitlab.example.com/team/infra/-/merge_requests/1", 1},
	} {
		vars := map[string]string{"GITLAB_TOKEN": gitToken}
		for k, v := range tc.vars {
			vars[k] = v
		}
		got := runCLI(t, vars, append([]string{"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web",
			"--tag", "5e5e5e5e", "--no-verify-image", "--merge-request", "--gitlab-url", gl.URL}, tc.extra...)...)
		assertNoToken(t, got)
		if got.Code != tc.code || !strings.Contains(got.Stdout+got.Stderr, tc.msg) || len(gl.MergeRequests()) != tc.mrs {
			t.Errorf("%s: exit %d, %d merge requests\nstdout: %s\nstderr: %s\nwant exit %d, %d, %q", tc.name, got.Code, len(gl.MergeRequests()), got.Stdout, got.Stderr, tc.code, tc.mrs, tc.msg)
		}
	}
}
