package gittest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// CreateRepo creates an empty bare repository that accepts pushes over HTTP.
func (s *Server) CreateRepo(name string) error {
	dir := s.dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "--bare", "--quiet", "--initial-branch=main", "."},
		{"config", "http.receivepack", "true"},
		{"config", "uploadpack.allowReachableSHA1InWant", "true"},
		{"config", "uploadpack.allowFilter", "true"},
		{"config", "receive.advertisePushOptions", "true"},
		{"config", "core.logAllRefUpdates", "true"},
	} {
		if _, err := s.Git(name, args...); err != nil {
			return err
		}
	}
	return nil
}

// Git runs the git CLI inside the bare repository and returns its trimmed stdout.
func (s *Server) Git(repo string, args ...string) (string, error) {
	return s.gitEnv(repo, nil, nil, args...)
}

func (s *Server) gitEnv(repo string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = s.dir(repo)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=gittest", "GIT_AUTHOR_EMAIL=gittest@example.invalid",
		"GIT_COMMITTER_NAME=gittest", "GIT_COMMITTER_EMAIL=gittest@example.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+s.Root)
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), repo, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Commit writes files (path → content; a nil-like "" content with a "-" prefix on the path
// deletes it: "-old.yaml") on top of branch and moves the branch to the new commit, using git
// plumbing directly in the bare repository (no clone, no network). The branch is created when
// missing. It returns the commit hash.
func (s *Server) Commit(repo, branch, message string, files map[string]string) (string, error) {
	ref := "refs/heads/" + branch
	parent, _ := s.Git(repo, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
	index, err := os.CreateTemp("", "gittest-index-")
	if err != nil {
		return "", err
	}
	index.Close()
	os.Remove(index.Name()) // git wants to create it
	defer os.Remove(index.Name())
	env := []string{"GIT_INDEX_FILE=" + index.Name()}
	if parent != "" {
		if _, err := s.gitEnv(repo, env, nil, "read-tree", parent); err != nil {
			return "", err
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if strings.HasPrefix(p, "-") {
			// mode 0 removes the path; --force-remove would need a work tree
			info := "0 0000000000000000000000000000000000000000\t" + strings.TrimPrefix(p, "-") + "\n"
			if _, err := s.gitEnv(repo, env, []byte(info), "update-index", "--index-info"); err != nil {
				return "", err
			}
			continue
		}
		blob, err := s.gitEnv(repo, nil, []byte(files[p]), "hash-object", "-w", "--stdin")
		if err != nil {
			return "", err
		}
		if _, err := s.gitEnv(repo, env, nil, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+p); err != nil {
			return "", err
		}
	}
	tree, err := s.gitEnv(repo, env, nil, "write-tree")
	if err != nil {
		return "", err
	}
	args := []string{"commit-tree", tree, "-m", message}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	commit, err := s.Git(repo, args...)
	if err != nil {
		return "", err
	}
	if _, err := s.Git(repo, "update-ref", ref, commit); err != nil {
		return "", err
	}
	return commit, nil
}

// ReadFile returns the content of path at rev (a branch, tag or commit).
func (s *Server) ReadFile(repo, rev, path string) (string, error) {
	cmd := exec.Command("git", "cat-file", "blob", rev+":"+path)
	cmd.Dir = s.dir(repo)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("reading %s:%s in %s: %w", rev, path, repo, err)
	}
	return string(out), nil
}

// RevParse resolves rev to a commit hash.
func (s *Server) RevParse(repo, rev string) (string, error) {
	return s.Git(repo, "rev-parse", "--verify", rev+"^{commit}")
}

// Log returns the commit hashes reachable from rev, newest first, first parents only.
func (s *Server) Log(repo, rev string) ([]string, error) {
	out, err := s.Git(repo, "rev-list", "--first-parent", rev)
	if err != nil || out == "" {
		return nil, err
	}
	return strings.Split(out, "\n"), nil
}

// Refs returns every ref of the repository and the object it points at.
func (s *Server) Refs(repo string) (map[string]string, error) {
	out, err := s.Git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
	if err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, hash, ok := strings.Cut(line, " "); ok {
			refs[name] = hash
		}
	}
	return refs, nil
}

func (s *Server) dir(repo string) string {
	return filepath.Join(s.Root, filepath.FromSlash(repoPath(repo)))
}
