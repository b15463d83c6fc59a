package giteatest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// NeedGitLFS skips t when Debian's git-lfs client, which writes and reads the LFS repositories
// of these tests, is missing.
func NeedGitLFS(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git-lfs"); err != nil {
		t.Skip("needs Debian's git-lfs client (apt-get install git-lfs, or hack/deps.sh)")
	}
}

// Worktree is a clone used the way a developer uses git-lfs: track, commit, push (git-lfs's
// pre-push hook uploads the objects). Credentials go as an http.extraHeader in the environment,
// which git-lfs reads too.
type Worktree struct {
	Dir   string
	home  string
	creds gitauth.Credentials
}

// NewWorktree initialises a work tree with git-lfs installed and url as its origin.
func NewWorktree(t testing.TB, url string, creds gitauth.Credentials) *Worktree {
	t.Helper()
	w := &Worktree{Dir: t.TempDir(), home: t.TempDir(), creds: creds}
	w.Git(t, "init", "--quiet", "--initial-branch=main", ".")
	w.Git(t, "lfs", "install", "--local")
	w.Git(t, "remote", "add", "origin", url)
	return w
}

// Git runs git in the work tree and returns its trimmed output; a failure fails t.
func (w *Worktree) Git(t testing.TB, args ...string) string {
	t.Helper()
	out, err := w.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Run runs git in the work tree and returns its trimmed output.
func (w *Worktree) Run(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = w.Dir
	cmd.Env = append(os.Environ(), "HOME="+w.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	cmd.Env = append(cmd.Env, w.creds.GitEnv(cmd.Env)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", errors.New("git " + strings.Join(args, " ") + ": " + err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Commit writes files (path → content) and commits everything; it returns the commit.
func (w *Worktree) Commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(w.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w.Git(t, "add", "-A")
	w.Git(t, "commit", "--quiet", "-m", msg)
	return w.Git(t, "rev-parse", "HEAD")
}

// LsRemote returns the branches and tags of a remote repository.
func LsRemote(t testing.TB, url string, creds gitauth.Credentials) map[string]string {
	t.Helper()
	w := &Worktree{Dir: t.TempDir(), home: t.TempDir(), creds: creds}
	refs := map[string]string{}
	for _, line := range strings.Split(w.Git(t, "ls-remote", "--heads", "--tags", url), "\n") {
		if h, ref, ok := strings.Cut(line, "\t"); ok {
			refs[ref] = h
		}
	}
	return refs
}

// Checkout clones url with git-lfs's smudge filter (installed in a private HOME) and returns the
// work tree: LFS files hold their real content when the server has the objects.
func Checkout(t testing.TB, url string, creds gitauth.Credentials) string {
	t.Helper()
	w := &Worktree{Dir: t.TempDir(), home: t.TempDir(), creds: creds}
	w.Git(t, "lfs", "install", "--skip-repo")
	w.Git(t, "clone", "--quiet", url, "co")
	return filepath.Join(w.Dir, "co")
}
