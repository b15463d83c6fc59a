package gittest

import "testing"

// New starts a server for the duration of a test.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("gittest.Start() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// MustCreateRepo creates a bare repository or fails the test.
func (s *Server) MustCreateRepo(t testing.TB, name string) string {
	t.Helper()
	if err := s.CreateRepo(name); err != nil {
		t.Fatalf("CreateRepo(%q) = %v", name, err)
	}
	return s.RepoURL(name)
}

// MustCommit commits files on branch or fails the test. See Commit.
func (s *Server) MustCommit(t testing.TB, repo, branch, message string, files map[string]string) string {
	t.Helper()
	h, err := s.Commit(repo, branch, message, files)
	if err != nil {
		t.Fatalf("Commit(%q, %q) = %v", repo, branch, err)
	}
	return h
}

// MustReadFile returns path at rev or fails the test.
func (s *Server) MustReadFile(t testing.TB, repo, rev, path string) string {
	t.Helper()
	c, err := s.ReadFile(repo, rev, path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
