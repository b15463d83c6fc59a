package mirror_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/gitauth"
	"github.com/tagrelay/tagrelay/internal/giteatest"
	"github.com/tagrelay/tagrelay/mirror"
)

// giteaPair is two real Giteas, an external forge and the internal one, each with its own LFS
// store (one Gitea would share the store between its repositories and never ask for an upload).
type giteaPair struct {
	src, dst       *giteatest.Server
	srcURL, dstURL string
	cache          string
}

func newGiteaPair(t *testing.T) *giteaPair {
	t.Helper()
	giteatest.NeedGitLFS(t)
	s := giteatest.StartN(t, 2)
	src, dst := s[0], s[1]
	return &giteaPair{src: src, dst: dst, srcURL: src.CreateRepo(t, "app"), dstURL: dst.CreateRepo(t, "app"), cache: t.TempDir()}
}

func (p *giteaPair) sync(o mirror.Options) (*mirror.Result, error) {
	if o.CacheDir == "" {
		o.CacheDir = p.cache
	}
	return mirror.Sync(context.Background(),
		mirror.Remote{URL: p.srcURL, Credentials: p.src.Credentials()},
		mirror.Remote{URL: p.dstURL, Credentials: p.dst.Credentials()}, o)
}

// TestLFSMirrorBetweenGiteas: a repository with LFS files mirrored from one real Gitea to
// another. Without LFS it is refused with nothing pushed; with it the destination's checkout has
// the real content, a later sync copies only the new object, and a re-mirror uploads nothing.
func TestLFSMirrorBetweenGiteas(t *testing.T) {
	t.Parallel()
	p := newGiteaPair(t)
	model, weights := random(300_000, 1), random(1_200_000, 2)
	w := giteatest.NewWorktree(t, p.srcURL, p.src.Credentials())
	w.Git(t, "lfs", "track", "*.bin")
	w.Commit(t, "models", map[string]string{"model.bin": model, "data/weights.bin": weights, "README.md": "app\n"})
	w.Git(t, "tag", "v1")
	w.Git(t, "push", "--quiet", "origin", "main", "v1")
	srcStore := p.src.LFSObjects(t)
	if len(srcStore) != 2 {
		t.Fatalf("source LFS store = %v, want the 2 objects git-lfs pushed", srcStore)
	}

	// Without LFS: refused, nothing pushed, nothing uploaded.
	_, err := p.sync(mirror.Options{All: true, Tags: true})
	if !errors.Is(err, mirror.ErrLFSPointers) || exitcode.Code(err) != exitcode.Precondition ||
		!strings.Contains(err.Error(), "2 Git LFS pointer(s) (data/weights.bin, model.bin)") {
		t.Fatalf("Sync() without LFS = %v, want ErrLFSPointers (exit 4) naming both files", err)
	}
	if refs := giteatest.LsRemote(t, p.dstURL, p.dst.Credentials()); len(refs) != 0 || len(p.dst.LFSObjects(t)) != 0 {
		t.Fatalf("refused sync wrote to the destination: refs %v, LFS store %v", refs, p.dst.LFSObjects(t))
	}

	// With LFS: both objects copied before the refs, the checkout smudges the real files; no
	// token in the log or git's messages.
	var logs bytes.Buffer
	res, err := p.sync(mirror.Options{All: true, Tags: true, LFS: true, Progress: &logs,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("Sync(LFS) = %v", err)
	}
	for _, secret := range []string{p.src.Token, p.dst.Token, p.src.Credentials().Header(), p.dst.Credentials().Header()} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log shows a credential:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "LFS objects") {
		t.Errorf("log does not report the LFS copy:\n%s", logs.String())
	}
	want := &mirror.LFSResult{Objects: 2, Missing: 2, Copied: 2, Bytes: int64(len(model) + len(weights))}
	if diff := cmp.Diff(want, res.LFS); diff != "" {
		t.Errorf("LFS result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(srcStore, p.dst.LFSObjects(t)); diff != "" {
		t.Errorf("destination LFS store (-source +destination):\n%s", diff)
	}
	clone := giteatest.Checkout(t, p.dstURL, p.dst.Credentials())
	for name, content := range map[string]string{"model.bin": model, "data/weights.bin": weights} {
		if got, err := os.ReadFile(filepath.Join(clone, name)); err != nil || string(got) != content {
			t.Errorf("destination checkout %s: %d bytes (err %v), want the real %d-byte file", name, len(got), err, len(content))
		}
	}

	// One more LFS file and a text change: only the new object is scanned and copied.
	extra := random(50_000, 6)
	w.Commit(t, "more", map[string]string{"extra.bin": extra, "README.md": "app v2\n"})
	w.Git(t, "push", "--quiet", "origin", "main")
	res, err = p.sync(mirror.Options{All: true, Tags: true, LFS: true})
	if err != nil {
		t.Fatalf("second Sync(LFS) = %v", err)
	}
	if diff := cmp.Diff(&mirror.LFSResult{Objects: 1, Missing: 1, Copied: 1, Bytes: int64(len(extra))}, res.LFS); diff != "" {
		t.Errorf("second LFS result (-want +got):\n%s", diff)
	}
	store := p.dst.LFSObjects(t)
	if len(store) != 3 {
		t.Errorf("destination LFS store has %d objects, want 3", len(store))
	}

	// Nothing new: a no-op, no LFS request needed.
	if res, err = p.sync(mirror.Options{All: true, Tags: true, LFS: true}); !errors.Is(err, mirror.ErrUnchanged) || res.LFS != nil {
		t.Errorf("re-mirror = %v (lfs %+v), want ErrUnchanged without LFS work", err, res.LFS)
	}
	// A fresh cache knows nothing: every commit is scanned, the destination has every object,
	// nothing is uploaded, and it is still a no-op.
	res, err = p.sync(mirror.Options{All: true, Tags: true, LFS: true, CacheDir: t.TempDir()})
	if !errors.Is(err, mirror.ErrUnchanged) {
		t.Errorf("re-mirror with a new cache = %v, want ErrUnchanged", err)
	}
	if diff := cmp.Diff(&mirror.LFSResult{Objects: 3, Present: 3}, res.LFS); diff != "" {
		t.Errorf("re-mirror with a new cache: LFS (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(store, p.dst.LFSObjects(t)); diff != "" {
		t.Errorf("re-mirror changed the destination LFS store (-before +after):\n%s", diff)
	}
}

// TestLFSBadSources: an object the source's LFS server lacks, or serves with other bytes than
// the pointer names (the source is untrusted), stops the sync before any ref is pushed.
func TestLFSBadSources(t *testing.T) {
	t.Parallel()
	p := newGiteaPair(t)
	w := giteatest.NewWorktree(t, p.srcURL, p.src.Credentials())
	w.Git(t, "lfs", "track", "*.bin")
	w.Commit(t, "model", map[string]string{"model.bin": random(100_000, 4)})
	w.Git(t, "push", "--quiet", "origin", "main")
	oids := p.src.LFSObjects(t)
	if len(oids) != 1 {
		t.Fatalf("source LFS store = %v", oids)
	}
	// Tamper with the stored object: Gitea serves the file as it is on disk.
	stored := filepath.Join(p.src.Dir, "data", "lfs", oids[0][:2], oids[0][2:4], oids[0][4:])
	// (random's seeds 2k and 2k+1 give the same bytes: 8, not 5.)
	if err := os.WriteFile(stored, []byte(random(100_000, 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.sync(mirror.Options{LFS: true})
	if !errors.Is(err, mirror.ErrLFSObject) || exitcode.Code(err) != exitcode.Precondition || !strings.Contains(err.Error(), "with another sha256 for object "+oids[0]) {
		t.Errorf("Sync() of a tampered object = %v, want ErrLFSObject (exit 4)", err)
	}
	assertUntouched(t, p)

	// An object the source never received (pushed without git-lfs's pre-push hook): 404 from
	// its LFS server.
	w.Commit(t, "missing", map[string]string{"lost.bin": random(10_000, 10)})
	w.Git(t, "push", "--quiet", "--no-verify", "origin", "main")
	_, err = p.sync(mirror.Options{LFS: true, CacheDir: t.TempDir()})
	if !errors.Is(err, mirror.ErrLFSObject) || !strings.Contains(err.Error(), "does not have object") || !strings.Contains(err.Error(), "lost.bin") {
		t.Errorf("Sync() with an object missing upstream = %v, want ErrLFSObject naming lost.bin", err)
	}
	assertUntouched(t, p)

	// Wrong destination credentials for LFS: the git listing refuses them first (exit 1), and
	// nothing is written.
	_, err = mirror.Sync(context.Background(), mirror.Remote{URL: p.srcURL, Credentials: p.src.Credentials()},
		mirror.Remote{URL: p.dstURL, Credentials: gitauth.Credentials{Username: giteatest.Admin, Password: "wrong"}},
		mirror.Options{LFS: true, CacheDir: t.TempDir()})
	if !errors.Is(err, mirror.ErrAuth) || exitcode.Code(err) != exitcode.Failure || errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("Sync() with wrong destination credentials = %v, want ErrAuth (exit 1)", err)
	}
	assertUntouched(t, p)
}

func assertUntouched(t *testing.T, p *giteaPair) {
	t.Helper()
	if refs := giteatest.LsRemote(t, p.dstURL, p.dst.Credentials()); len(refs) != 0 {
		t.Errorf("destination got refs %v", refs)
	}
	if objs := p.dst.LFSObjects(t); len(objs) != 0 {
		t.Errorf("destination LFS store got %v", objs)
	}
	leftovers, _ := filepath.Glob(filepath.Join(p.cache, "*", "tagrelay-lfs"))
	if len(leftovers) != 0 {
		t.Errorf("temporary LFS files left in the cache: %v", leftovers)
	}
}
