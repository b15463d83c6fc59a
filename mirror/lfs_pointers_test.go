package mirror_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/mirror"
)

// pointer returns the Git LFS pointer file of content.
func pointer(content string) string {
	sum := sha256.Sum256([]byte(content))
	return fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", hex.EncodeToString(sum[:]), len(content))
}

// TestLFSPointersRefusedWithoutLFS: commits holding LFS pointers are refused unless LFS is on,
// with nothing pushed; a repository without LFS mirrors as before.
func TestLFSPointersRefusedWithoutLFS(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "plain", map[string]string{"README": "app\n"})
	p.mustSync(t, mirror.Options{All: true})
	before := mirrored(t, p.dst, dstRepo)
	p.src.MustCommit(t, srcRepo, "main", "add models", map[string]string{
		".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n",
		"model.bin":      pointer("weights v1"),
		"data/big.bin":   pointer("big data"),
	})
	p.src.MustCommit(t, srcRepo, "other", "plain branch", map[string]string{"x": "1\n"})
	p.dst.ResetRequests()

	res, err := p.sync(t, mirror.Options{All: true})
	want := "LFS objects not mirrored: the commits to mirror hold 2 Git LFS pointer(s) (data/big.bin, model.bin); the destination would get the pointers without the files; nothing was pushed"
	if !errors.Is(err, mirror.ErrLFSPointers) || exitcode.Code(err) != exitcode.Precondition || err.Error() != want {
		t.Fatalf("Sync() = %v (exit %d), want (exit 4):\n%s", err, exitcode.Code(err), want)
	}
	if n := pushes(p.dst); n != 0 || res.Pushed || res.LFS == nil || res.LFS.Objects != 2 {
		t.Errorf("Sync() pushed %d times, result %+v (lfs %+v); want nothing pushed, 2 objects", n, res, res.LFS)
	}
	if diff := cmp.Diff(before, mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("destination changed (-before +after):\n%s", diff)
	}
	// A text file that merely mentions the spec is not a pointer.
	q := newPair(t)
	q.src.MustCommit(t, srcRepo, "main", "docs", map[string]string{"LFS.md": "version https://git-lfs.github.com/spec/v1\nis the spec\n"})
	q.mustSync(t, mirror.Options{All: true})
}

// TestLFSPointersOnlyInScope: pointers the cache holds for a ref outside the sync's scope do not
// refuse it; only the commits to push count.
func TestLFSPointersOnlyInScope(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	main := p.src.MustCommit(t, srcRepo, "main", "plain", map[string]string{"README": "app\n"})
	p.src.MustCommit(t, srcRepo, "models", "lfs", map[string]string{"model.bin": pointer("weights")})
	if _, err := p.sync(t, mirror.Options{Refs: []string{"models"}}); !errors.Is(err, mirror.ErrLFSPointers) {
		t.Fatalf("Sync(models) = %v, want ErrLFSPointers", err)
	}
	// The cache now holds the pointer; main, into the still empty destination, has none.
	res := p.mustSync(t, mirror.Options{Refs: []string{"main"}})
	if got := mirrored(t, p.dst, dstRepo); got["refs/heads/main"] != main || len(got) != 1 || res.LFS != nil {
		t.Errorf("destination = %v (lfs %+v), want main only", got, res.LFS)
	}
}

// TestLFSPointersWithGitBefore232: a git without --filter=object:type (older than 2.32) scans
// through the extra cat-file --batch-check stage, with the same result.
func TestLFSPointersWithGitBefore232(t *testing.T) {
	t.Parallel()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *object:type*) echo \"fatal: invalid filter-spec '$a'\" >&2; exit 128;; esac; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "plain", map[string]string{"README": "app\n"})
	p.mustSync(t, mirror.Options{Git: old})
	p.src.MustCommit(t, srcRepo, "main", "model", map[string]string{"model.bin": pointer("weights"), "small.txt": "not a pointer, but small\n"})
	_, err = p.sync(t, mirror.Options{Git: old})
	if !errors.Is(err, mirror.ErrLFSPointers) || !strings.Contains(err.Error(), "1 Git LFS pointer(s) (model.bin)") {
		t.Errorf("Sync() with git < 2.32 = %v, want ErrLFSPointers naming model.bin", err)
	}
}
