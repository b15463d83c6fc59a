package gittest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCloneCommitPushOverHTTP(t *testing.T) {
	t.Parallel()
	s := New(t, WithBasicAuth("alice", "s3cret-pass"))
	s.MustCreateRepo(t, "group/infra")
	first := s.MustCommit(t, "group/infra", "main", "seed", map[string]string{"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n"})

	work := t.TempDir()
	authed := strings.Replace(s.RepoURL("group/infra"), "http://", "http://alice:s3cret-pass@", 1)
	git(t, work, "clone", "--quiet", authed, "c")
	c := filepath.Join(work, "c")
	if got := git(t, c, "rev-parse", "HEAD"); got != first {
		t.Fatalf("cloned HEAD = %s, want %s", got, first)
	}
	if err := os.WriteFile(filepath.Join(c, "a.yaml"), []byte("a: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, c, "commit", "--quiet", "-am", "bump")
	git(t, c, "push", "--quiet", "origin", "main")

	if got := s.MustReadFile(t, "group/infra", "main", "a.yaml"); got != "a: 3\n" {
		t.Errorf("a.yaml after push = %q", got)
	}
	if n := s.ReceivedBytes("group/infra"); n <= 0 {
		t.Errorf("ReceivedBytes() = %d, want > 0", n)
	}
	log, err := s.Log("group/infra", "main")
	if err != nil || len(log) != 2 || log[1] != first {
		t.Errorf("Log() = %v, %v", log, err)
	}
	// Commit on top of a pushed commit deletes and adds.
	s.MustCommit(t, "group/infra", "main", "rm", map[string]string{"-dir/b.yaml": "", "c.yaml": "c\n"})
	if _, err := s.ReadFile("group/infra", "main", "dir/b.yaml"); err == nil {
		t.Errorf("dir/b.yaml still present after delete")
	}
}

func TestRejectsWrongCredentials(t *testing.T) {
	t.Parallel()
	s := New(t, WithBasicAuth("alice", "right"))
	s.MustCreateRepo(t, "r")
	for _, auth := range []string{"", "alice:wrong@", "bob:right@"} {
		req, _ := http.NewRequest("GET", strings.Replace(s.RepoURL("r"), "http://", "http://"+auth, 1)+"/info/refs?service=git-upload-pack", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("auth %q: status = %d, want 401", auth, resp.StatusCode)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Repo != "r.git" || reqs[0].Service != "git-upload-pack" {
		t.Errorf("Requests() = %+v", reqs)
	}
}
