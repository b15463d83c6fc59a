package bumpcmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

// pushLinks commits files and symbolic links (name -> target) to repo's main with the git CLI, as
// a developer of the infra repository would.
func pushLinks(t *testing.T, s *gittest.Server, repo string, files, links map[string]string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=dev", "-c", "user.email=dev@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("clone", "--quiet", strings.Replace(s.RepoURL(repo), "http://", "http://oauth2:"+gitToken+"@", 1), ".")
	for name, content := range files {
		clitest.WriteFile(t, dir, name, content)
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	git("add", "-A")
	git("commit", "--quiet", "-m", "links")
	git("push", "--quiet", "origin", "HEAD:main")
}

// TestBumpRemoteRefusesLinks: a file to edit that is a symbolic link in the infra repository, or
// sits below one, is refused with exit 2 before anything is pushed; a directory walk passes links
// by; --file leaving the repository is an input error too.
func TestBumpRemoteRefusesLinks(t *testing.T) {
	t.Parallel()
	s := infraServer(t)
	pushLinks(t, s, "team/infra", map[string]string{"base/values.yaml": values},
		map[string]string{"prod/values.yaml": "../base/values.yaml", "staging": "base", "linked/values.yaml": "../base/values.yaml"})
	main, _ := s.RevParse("team/infra", "main")
	s.ResetRequests()
	for _, tc := range []struct {
		name string
		file string
		code int
		msg  string
	}{
		{"linked file", "prod/values.yaml", 2, "prod/values.yaml is a symbolic link; bump edits regular files only"},
		{"file below a linked directory", "staging/values.yaml", 2, "staging (on the way to staging/values.yaml) is a symbolic link"},
		{"directory holding only a link", "linked", 4, "image not found: harbor.example/team/web in linked (0 files read)"},
		{"file outside the repository", "../values.yaml", 2, "path outside the tree: ../values.yaml"},
		{"file climbing out", "base/../../values.yaml", 2, "path outside the tree: ../values.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(t, map[string]string{"GITLAB_TOKEN": gitToken}, "bump", "--repo", s.RepoURL("team/infra"), "--file", tc.file,
				"--image", "harbor.example/team/web", "--tag", "2.0.0", "--no-verify-image")
			assertNoToken(t, got)
			if got.Code != tc.code || !strings.Contains(got.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", got.Code, got.Stderr, tc.code, tc.msg)
			}
		})
	}
	t.Cleanup(func() {
		for _, r := range s.Requests() {
			if r.Service == "git-receive-pack" {
				t.Errorf("the git server got a push: %+v", r)
			}
		}
		if now, _ := s.RevParse("team/infra", "main"); now != main {
			t.Errorf("main moved from %s to %s", main, now)
		}
	})
}

// TestBumpLocalRefusesLinks: in a checkout, a linked file is refused (exit 2, nothing written),
// and a directory walk never follows a link out of the directory.
func TestBumpLocalRefusesLinks(t *testing.T) {
	t.Parallel()
	outside := clitest.WriteFile(t, t.TempDir(), "outside.yaml", deployment)
	dir := t.TempDir()
	inside := clitest.WriteFile(t, dir, "envs/prod/deployment.yaml", deployment)
	for name, target := range map[string]string{"envs/prod/shared.yaml": outside, "envs/link.yaml": outside, "envs/out": filepath.Dir(outside)} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"bump", "--image", "harbor.example/team/api", "--tag", "1a2b3c4d"}
	got := runCLI(t, nil, append(args, "--file", filepath.Join(dir, "envs/link.yaml"))...)
	if got.Code != 2 || !strings.Contains(got.Stderr, "link.yaml is a symbolic link") || clitest.ReadFile(t, outside) != deployment {
		t.Errorf("linked --file: exit %d, stderr %q; want 2, the link named, nothing written", got.Code, got.Stderr)
	}
	got = runCLI(t, nil, append(args, "--file", filepath.Join(dir, "envs"))...)
	if got.Code != 0 || !strings.Contains(clitest.ReadFile(t, inside), "api:1a2b3c4d") {
		t.Fatalf("directory: exit %d, stderr %q", got.Code, got.Stderr)
	}
	if clitest.ReadFile(t, outside) != deployment || strings.Contains(got.Stdout, "shared.yaml") || strings.Contains(got.Stdout, "outside") {
		t.Errorf("the walk followed a link out of the directory:\n%s", got.Stdout)
	}
}
