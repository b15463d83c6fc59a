package mirror_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/mirror"
)

const (
	srcRepo = "external/app"
	dstRepo = "internal/app"
)

var (
	srcCreds = gitauth.Credentials{Username: "reader", Password: "src-token-1111"}
	dstCreds = gitauth.Credentials{Username: "mirror-bot", Password: "dst-token-2222"}
)

// pair is a source and a destination repository on two real smart-HTTP git servers, like an
// external forge and an internal GitLab.
type pair struct {
	src, dst *gittest.Server
	cache    string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{
		src:   gittest.New(t, gittest.WithBasicAuth(srcCreds.Username, srcCreds.Password)),
		dst:   gittest.New(t, gittest.WithBasicAuth(dstCreds.Username, dstCreds.Password)),
		cache: t.TempDir(),
	}
	p.src.MustCreateRepo(t, srcRepo)
	p.dst.MustCreateRepo(t, dstRepo)
	// Like GitLab: hidden refs cannot be pushed.
	for _, ns := range []string{"refs/merge-requests", "refs/pipelines", "refs/keep-around"} {
		p.git(t, p.dst, dstRepo, "config", "--add", "receive.hideRefs", ns)
	}
	return p
}

func (p *pair) source() mirror.Remote {
	return mirror.Remote{URL: p.src.RepoURL(srcRepo), Credentials: srcCreds}
}

func (p *pair) dest() mirror.Remote {
	return mirror.Remote{URL: p.dst.RepoURL(dstRepo), Credentials: dstCreds}
}

// sync runs one mirror with the pair's cache.
func (p *pair) sync(t *testing.T, o mirror.Options) (*mirror.Result, error) {
	t.Helper()
	if o.CacheDir == "" {
		o.CacheDir = p.cache
	}
	return mirror.Sync(context.Background(), p.source(), p.dest(), o)
}

func (p *pair) mustSync(t *testing.T, o mirror.Options) *mirror.Result {
	t.Helper()
	res, err := p.sync(t, o)
	if err != nil {
		t.Fatalf("Sync(%+v) = %v", o, err)
	}
	return res
}

func (p *pair) git(t *testing.T, s *gittest.Server, repo string, args ...string) string {
	t.Helper()
	out, err := s.Git(repo, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mirrored returns the branches and tags of a repository.
func mirrored(t *testing.T, s *gittest.Server, repo string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, h := range allRefs(t, s, repo) {
		if strings.HasPrefix(name, "refs/heads/") || strings.HasPrefix(name, "refs/tags/") {
			out[name] = h
		}
	}
	return out
}

// allRefs returns every ref of a repository.
func allRefs(t *testing.T, s *gittest.Server, repo string) map[string]string {
	t.Helper()
	refs, err := s.Refs(repo)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// pushes counts the receive-pack POSTs a server answered: zero means nothing was pushed.
func pushes(s *gittest.Server) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Service == "git-receive-pack" && r.Method == "POST" {
			n++
		}
	}
	return n
}

// installHook writes an executable hook into a bare repository of s.
func installHook(t *testing.T, s *gittest.Server, repo, name, script string) {
	t.Helper()
	dir := filepath.Join(s.Root, repo+".git", "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// random returns n bytes that do not compress, as a string for gittest.Commit.
func random(n int, seed byte) string {
	b := make([]byte, n)
	x := uint32(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}

func readOrEmpty(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
