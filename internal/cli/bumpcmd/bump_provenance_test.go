package bumpcmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

const appSHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// trailers returns the trailer block of the tip of branch, as git reads it.
func trailers(t *testing.T, s *gittest.Server, repo, branch string) string {
	t.Helper()
	out, err := s.Git(repo, "log", "-1", "--format=%(trailers:only,unfold)", branch)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// TestBumpProvenance: in every mode, the commit ends with exactly the provenance trailers, from
// the CI's variables or the flags; a repository URL's credentials never reach the commit or the
// output.
func TestBumpProvenance(t *testing.T) {
	t.Parallel()
	const secretURL = "https://gitlab-ci-token:glcbt-64_Sup3rSecret@gitlab.example.com/team/web.git"
	gitlabCI := map[string]string{"GITLAB_TOKEN": gitToken, "CI_COMMIT_SHA": appSHA, "CI_PROJECT_URL": "https://gitlab.example.com/team/web",
		"CI_PROJECT_PATH": "team/web", "CI_PIPELINE_URL": "https://gitlab.example.com/team/web/-/pipelines/9"}
	githubCI := map[string]string{"GITLAB_TOKEN": gitToken, "GITHUB_SHA": appSHA, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "octo-org/web"}
	ciBlock := "Source: team/web@" + appSHA + "\nPipeline: https://gitlab.example.com/team/web/-/pipelines/9\n"
	image := "Tagrelay-Image: harbor.example/team/web:1a2b3c4d\n"
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"GitLab CI", gitlabCI, nil, ciBlock + image + "Tagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/web"},
		{"GitHub Actions", githubCI, nil, "Source: octo-org/web@" + appSHA + "\n" + image + "Tagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://github.com/octo-org/web"},
		{"flags over CI, credentials stripped", gitlabCI, []string{"--source-commit", strings.Repeat("ab", 20), "--source-repo", secretURL},
			ciBlock + image + "Tagrelay-Source-Commit: " + strings.Repeat("ab", 20) + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/web.git"},
		{"template with its own trailer", gitlabCI, []string{"--message", "deploy {{index .Images 0}}\n\nReviewed-by: Jane <jane@example.com>"},
			"Reviewed-by: Jane <jane@example.com>\n" + image + "Tagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/web"},
		{"no CI", map[string]string{"GITLAB_TOKEN": gitToken}, nil, strings.TrimSpace(image)},
		{"CI short SHA", map[string]string{"GITLAB_TOKEN": gitToken, "CI_COMMIT_SHA": "1a2b3c4d"}, nil, strings.TrimSpace(image)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := infraServer(t)
			args := append([]string{"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web",
				"--tag", "1a2b3c4d", "--no-verify-image", "--log-level", "debug", "--output", "json"}, tc.args...)
			got := runCLI(t, tc.vars, args...)
			clitest.AssertNoSecrets(t, got, gitToken, "Sup3rSecret")
			if got.Code != 0 {
				t.Fatalf("exit %d: %s", got.Code, got.Stderr)
			}
			if tr := trailers(t, s, "team/infra", "main"); tr != tc.want {
				t.Errorf("trailers =\n%s\nwant\n%s", tr, tc.want)
			}
			if body, _ := s.Git("team/infra", "log", "-1", "--format=%B", "main"); strings.Contains(body, "Sup3rSecret") || strings.Contains(body, "gitlab-ci-token") {
				t.Errorf("the commit carries the URL's credentials:\n%s", body)
			}
		})
	}
}

// TestBumpProvenanceOtherCommit: a tag that is another commit's short SHA (a promotion, a bump
// from another pipeline) gets no source trailer from the CI's variables.
func TestBumpProvenanceOtherCommit(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken, "CI_COMMIT_SHA": appSHA}, "bump", "--repo", s.RepoURL("team/infra"),
		"--file", "chart/values.yaml", "--image", "harbor.example/team/web", "--tag", "9f9f9f9f", "--no-verify-image")
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	if tr := trailers(t, s, "team/infra", "main"); tr != "Tagrelay-Image: harbor.example/team/web:9f9f9f9f" {
		t.Errorf("trailers = %q, want the image only", tr)
	}
	if !strings.Contains(got.Stderr, "pass --source-commit") {
		t.Errorf("stderr does not say why there is no source: %s", got.Stderr)
	}
}

func TestBumpProvenanceMergeRequest(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/infra", APIToken: gitToken})
	got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken, "CI_COMMIT_SHA": appSHA, "CI_PROJECT_URL": "https://gitlab.example.com/team/web"},
		"bump", "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml", "--image", "harbor.example/team/web",
		"--tag", "1a2b3c4d", "--no-verify-image", "--merge-request", "--gitlab-url", gl.URL)
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	want := "Tagrelay-Image: harbor.example/team/web:1a2b3c4d\nTagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/web"
	if tr := trailers(t, s, "team/infra", "tagrelay/web-1a2b3c4d"); tr != want {
		t.Errorf("trailers of the merge request's commit =\n%s\nwant\n%s", tr, want)
	}
}

// TestBumpProvenanceLocal: without --repo, --write-message holds the message to commit with, and
// git commit -F carries the trailers.
func TestBumpProvenanceLocal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	file := clitest.WriteFile(t, dir, "values.yaml", values)
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=CI", "-c", "user.email=ci@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-qm", "seed")
	msgFile := filepath.Join(t.TempDir(), "msg")
	got := runCLI(t, map[string]string{"CI_COMMIT_SHA": appSHA, "CI_PROJECT_URL": "https://gitlab.example.com/team/web"},
		"bump", "--file", file, "--image", "harbor.example/team/web", "--tag", "1a2b3c4d", "--write-message", msgFile, "--output", "json")
	if got.Code != 0 {
		t.Fatalf("exit %d: %s", got.Code, got.Stderr)
	}
	if !strings.Contains(got.Stdout, `"message": "deploy: harbor.example/team/web:1a2b3c4d`) {
		t.Errorf("the JSON result lacks the message: %s", got.Stdout)
	}
	git("commit", "-qa", "-F", msgFile)
	want := "Tagrelay-Image: harbor.example/team/web:1a2b3c4d\nTagrelay-Source-Commit: " + appSHA + "\nTagrelay-Source-Repo: https://gitlab.example.com/team/web"
	if tr := git("log", "-1", "--format=%(trailers:only,unfold)"); tr != want {
		t.Errorf("trailers after git commit -F =\n%s\nwant\n%s", tr, want)
	}
}

// TestBumpProvenanceBadInput: bad provenance input exits 2 with its message and writes nothing.
func TestBumpProvenanceBadInput(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	for _, tc := range []struct {
		name   string
		remote bool
		args   []string
		msg    string
	}{
		{"short source commit", true, []string{"--source-commit", "1a2b3c4d"}, "not a full SHA"},
		{"repo without commit", true, []string{"--source-repo", "https://gitlab.example.com/team/web"}, "--source-repo without --source-commit"},
		{"file URL", true, []string{"--source-commit", appSHA, "--source-repo", "file:///srv/web"}, `scheme "file"`},
		{"line break", false, []string{"--source-commit", appSHA, "--source-repo", "https://a.example/x\nTagrelay-Image: evil:1"}, "not a URL"},
		{"write-message with --repo", true, []string{"--write-message", "msg"}, "--write-message given with --repo"},
		{"write-message into a missing directory", false, []string{"--write-message", "/nonexistent/dir/msg"}, "writing the commit message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := clitest.WriteFile(t, t.TempDir(), "values.yaml", values)
			args := []string{"bump", "--image", "harbor.example/team/web", "--tag", "1a2b3c4d", "--no-verify-image"}
			if tc.remote {
				args = append(args, "--repo", s.RepoURL("team/infra"), "--file", "chart/values.yaml")
			} else {
				args = append(args, "--file", file)
			}
			got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken}, append(args, tc.args...)...)
			if got.Code != 2 || !strings.Contains(got.Stderr, tc.msg) || strings.Count(strings.TrimSpace(got.Stderr), "\n") > 1 {
				t.Errorf("exit %d, stderr %q; want 2 with %q", got.Code, got.Stderr, tc.msg)
			}
			if b, _ := os.ReadFile(file); string(b) != values {
				t.Error("the local file was written")
			}
		})
	}
	if log, _ := s.Log("team/infra", "main"); len(log) != 1 {
		t.Errorf("%d commits on main, want the seed only", len(log))
	}
}
