package mirror_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/mirror"
)

func TestFirstSyncThenIncrementalThenNoop(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	oldMain := p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"blob.bin": random(300_000, 1), "README": "app\n"})
	p.src.MustCommit(t, srcRepo, "dev", "dev work", map[string]string{"dev.txt": "dev\n"})
	p.git(t, p.src, srcRepo, "tag", "v1.0.0", "main")
	p.git(t, p.src, srcRepo, "tag", "-a", "v1.0.1", "-m", "release 1.0.1", "main")
	// A tag on a commit no branch reaches.
	orphan := p.src.MustCommit(t, srcRepo, "tmp", "only tagged", map[string]string{"x": "1\n"})
	p.git(t, p.src, srcRepo, "tag", "detached", orphan)
	p.git(t, p.src, srcRepo, "update-ref", "-d", "refs/heads/tmp")

	res := p.mustSync(t, mirror.Options{All: true, Tags: true})
	if diff := cmp.Diff(mirrored(t, p.src, srcRepo), mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Fatalf("destination after first sync (-source +destination):\n%s", diff)
	}
	if res.Created != 5 || res.Updated != 0 || !res.Pushed || !res.Fetched {
		t.Errorf("first Sync() = %+v, want 5 created, pushed, fetched", res)
	}
	first := p.dst.ReceivedBytes(dstRepo)
	if first < 300_000 {
		t.Fatalf("first push received %d bytes, want at least the 300 kB blob", first)
	}

	// One small commit: only its objects travel, both ways.
	p.src.ResetRequests()
	p.dst.ResetRequests()
	newMain := p.src.MustCommit(t, srcRepo, "main", "small change", map[string]string{"README": "app v2\n"})
	res = p.mustSync(t, mirror.Options{All: true, Tags: true})
	if got := p.dst.ReceivedBytes(dstRepo); got > 4_000 {
		t.Errorf("incremental push received %d bytes (first push %d), want only the new objects (< 4 kB)", got, first)
	}
	if got := uploadBytes(p); got > 4_000 {
		t.Errorf("incremental fetch sent %d bytes, want only the new objects (< 4 kB)", got)
	}
	wantMain := mirror.Change{Ref: "refs/heads/main", Action: mirror.ActionUpdate, Old: oldMain, New: newMain}
	if diff := cmp.Diff(wantMain, findChange(res, "refs/heads/main")); diff != "" || res.Updated != 1 || res.Unchanged != 4 {
		t.Errorf("incremental Sync() = %+v, want 1 updated, 4 unchanged; main (-want +got):\n%s", res, diff)
	}
	if got := mirrored(t, p.dst, dstRepo)["refs/heads/main"]; got != newMain {
		t.Errorf("destination main = %s, want %s", got, newMain)
	}

	// Nothing new: refused as a no-op, with no pack fetched and no push at all.
	p.src.ResetRequests()
	p.dst.ResetRequests()
	res, err := p.sync(t, mirror.Options{All: true, Tags: true})
	if !errors.Is(err, mirror.ErrUnchanged) || exitcode.Code(err) != exitcode.Noop {
		t.Fatalf("no-change Sync() error = %v, want ErrUnchanged (exit 3)", err)
	}
	if n := pushes(p.dst); n != 0 {
		t.Errorf("no-change sync made %d pushes, want none", n)
	}
	if got := uploadBytes(p); got > 1_000 {
		t.Errorf("no-change fetch sent %d bytes, want no pack", got)
	}
	if res.Pushed || res.Unchanged != 5 {
		t.Errorf("no-change Sync() = %+v, want 5 unchanged, nothing pushed", res)
	}
}

func TestSingleRefAndDefaultBranch(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	main := p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	feat := p.src.MustCommit(t, srcRepo, "feature/x", "feature", map[string]string{"b": "2\n"})
	p.git(t, p.src, srcRepo, "tag", "v2", "main")

	// No ref: the source's default branch only.
	p.mustSync(t, mirror.Options{})
	if diff := cmp.Diff(map[string]string{"refs/heads/main": main}, mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("default-branch sync (-want +got):\n%s", diff)
	}
	// A glob and a tag by short name.
	p.mustSync(t, mirror.Options{Refs: []string{"feature/*", "v2"}})
	want := map[string]string{"refs/heads/main": main, "refs/heads/feature/x": feat, "refs/tags/v2": main}
	if diff := cmp.Diff(want, mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("--ref feature/* --ref v2 (-want +got):\n%s", diff)
	}
	// A short name guessed to be a branch (fetched early) that is a tag: fetched after listing.
	p.git(t, p.src, srcRepo, "tag", "v3", feat)
	if res := p.mustSync(t, mirror.Options{Refs: []string{"v3"}}); res.Created != 1 || mirrored(t, p.dst, dstRepo)["refs/tags/v3"] != feat {
		t.Errorf("--ref v3 (a tag) = %+v", res)
	}
}

func TestNonFastForwardRefusedThenForced(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	p.mustSync(t, mirror.Options{Refs: []string{"main"}})
	internal := p.dst.MustCommit(t, dstRepo, "main", "internal hotfix", map[string]string{"hotfix": "x\n"})
	upstream := p.src.MustCommit(t, srcRepo, "main", "upstream change", map[string]string{"a": "2\n"})
	p.dst.ResetRequests()

	res, err := p.sync(t, mirror.Options{Refs: []string{"main"}})
	if !errors.Is(err, mirror.ErrNonFastForward) || exitcode.Code(err) != exitcode.Precondition {
		t.Fatalf("Sync() error = %v, want ErrNonFastForward (exit 4)", err)
	}
	if !strings.Contains(err.Error(), "refs/heads/main") || !strings.Contains(err.Error(), "commits the source does not") {
		t.Errorf("error %q does not name the ref and why", err)
	}
	if got := mirrored(t, p.dst, dstRepo)["refs/heads/main"]; got != internal || pushes(p.dst) != 0 {
		t.Errorf("destination main = %s after %d pushes, want the internal commit untouched and no push", got, pushes(p.dst))
	}
	if c := findChange(res, "refs/heads/main"); c.Action != mirror.ActionRefused {
		t.Errorf("main change = %+v, want refused", c)
	}

	res = p.mustSync(t, mirror.Options{Refs: []string{"main"}, Force: true})
	if got := mirrored(t, p.dst, dstRepo)["refs/heads/main"]; got != upstream {
		t.Errorf("destination main after --force = %s, want %s", got, upstream)
	}
	if c := findChange(res, "refs/heads/main"); c.Action != mirror.ActionForce || c.Old != internal {
		t.Errorf("main change = %+v, want force-update from %s", c, internal)
	}
}

func TestOlderSourceNeverRewindsDestination(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	older := p.src.MustCommit(t, srcRepo, "main", "one", map[string]string{"a": "1\n"})
	newer := p.src.MustCommit(t, srcRepo, "main", "two", map[string]string{"a": "2\n"})
	p.mustSync(t, mirror.Options{Refs: []string{"main"}})
	// The source is reset to an older commit (or an old pipeline sees an old state).
	p.git(t, p.src, srcRepo, "update-ref", "refs/heads/main", older)

	_, err := p.sync(t, mirror.Options{Refs: []string{"main"}})
	if !errors.Is(err, mirror.ErrNonFastForward) || !strings.Contains(err.Error(), "behind") {
		t.Fatalf("Sync() error = %v, want ErrNonFastForward saying the source is behind", err)
	}
	if got := mirrored(t, p.dst, dstRepo)["refs/heads/main"]; got != newer {
		t.Errorf("destination main = %s, want %s (not rewound)", got, newer)
	}
}

func TestPruneOnlyRefsTheSourceHad(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	p.src.MustCommit(t, srcRepo, "gone", "to delete", map[string]string{"g": "1\n"})
	p.src.MustCommit(t, srcRepo, "touched", "to delete too", map[string]string{"t": "1\n"})
	p.git(t, p.src, srcRepo, "tag", "old-tag", "main")
	opts := mirror.Options{All: true, Tags: true, Prune: true}
	p.mustSync(t, opts)

	internalOnly := p.dst.MustCommit(t, dstRepo, "internal-only", "internal", map[string]string{"i": "1\n"})
	internalTag := p.dst.MustCommit(t, dstRepo, "tmp", "for a tag", map[string]string{"x": "1\n"})
	p.git(t, p.dst, dstRepo, "tag", "internal-tag", internalTag)
	touched := p.dst.MustCommit(t, dstRepo, "touched", "internal change on a mirrored branch", map[string]string{"t": "2\n"})
	for _, ref := range []string{"refs/heads/gone", "refs/heads/touched", "refs/tags/old-tag"} {
		p.git(t, p.src, srcRepo, "update-ref", "-d", ref)
	}

	res := p.mustSync(t, opts)
	got := mirrored(t, p.dst, dstRepo)
	for _, ref := range []string{"refs/heads/gone", "refs/tags/old-tag"} {
		if _, ok := got[ref]; ok {
			t.Errorf("%s still on the destination, want it pruned", ref)
		}
	}
	if got["refs/heads/internal-only"] != internalOnly || got["refs/tags/internal-tag"] != internalTag {
		t.Errorf("internal-only refs changed: %v", got)
	}
	if got["refs/heads/touched"] != touched {
		t.Errorf("touched = %s, want the internally changed branch kept (%s)", got["refs/heads/touched"], touched)
	}
	if res.Deleted != 2 || res.Kept != 1 || findChange(res, "refs/heads/touched").Action != mirror.ActionKept {
		t.Errorf("Sync() = %+v, want 2 deleted and touched kept", res)
	}

	// Without --prune nothing is deleted.
	p.src.MustCommit(t, srcRepo, "temp", "t", map[string]string{"t": "1\n"})
	p.mustSync(t, mirror.Options{All: true})
	p.git(t, p.src, srcRepo, "update-ref", "-d", "refs/heads/temp")
	if _, err := p.sync(t, mirror.Options{All: true}); !errors.Is(err, mirror.ErrUnchanged) {
		t.Errorf("Sync() without prune = %v, want ErrUnchanged", err)
	}
	if _, ok := mirrored(t, p.dst, dstRepo)["refs/heads/temp"]; !ok {
		t.Errorf("temp deleted without --prune")
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	c1 := p.src.MustCommit(t, srcRepo, "main", "one", map[string]string{"a": "1\n"})
	p.git(t, p.src, srcRepo, "tag", "-a", "v1", "-m", "v1", c1)
	p.mustSync(t, mirror.Options{Tags: true})
	if _, ok := mirrored(t, p.dst, dstRepo)["refs/heads/main"]; ok {
		t.Errorf("--tags alone pushed branches")
	}
	tagObj := p.git(t, p.src, srcRepo, "rev-parse", "refs/tags/v1")
	if got := mirrored(t, p.dst, dstRepo)["refs/tags/v1"]; got != tagObj {
		t.Errorf("destination v1 = %s, want the annotated tag object %s", got, tagObj)
	}

	// A moved tag is refused like a non-fast-forward, then forced.
	c2 := p.src.MustCommit(t, srcRepo, "main", "two", map[string]string{"a": "2\n"})
	p.git(t, p.src, srcRepo, "tag", "-f", "v1", c2)
	if _, err := p.sync(t, mirror.Options{Tags: true}); !errors.Is(err, mirror.ErrNonFastForward) {
		t.Fatalf("moved tag: Sync() = %v, want ErrNonFastForward", err)
	}
	if got := mirrored(t, p.dst, dstRepo)["refs/tags/v1"]; got != tagObj {
		t.Errorf("destination v1 moved without --force")
	}
	p.mustSync(t, mirror.Options{Tags: true, Force: true})
	if got := mirrored(t, p.dst, dstRepo)["refs/tags/v1"]; got != c2 {
		t.Errorf("destination v1 = %s after --force, want %s", got, c2)
	}
}

func TestHiddenRefsNeverPushed(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	main := p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	mr := p.src.MustCommit(t, srcRepo, "mr-source", "mr", map[string]string{"b": "1\n"})
	for _, ref := range []string{"refs/merge-requests/1/head", "refs/pipelines/42", "refs/keep-around/" + mr, "refs/pull/7/head"} {
		p.git(t, p.src, srcRepo, "update-ref", ref, mr)
	}
	p.git(t, p.src, srcRepo, "update-ref", "-d", "refs/heads/mr-source")

	p.mustSync(t, mirror.Options{All: true, Tags: true, Prune: true})
	if diff := cmp.Diff(map[string]string{"refs/heads/main": main}, allRefs(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("destination refs (-want +got):\n%s", diff)
	}
	// Asking for one explicitly is an input error.
	_, err := p.sync(t, mirror.Options{Refs: []string{"refs/merge-requests/1/head"}})
	if !errors.Is(err, mirror.ErrInvalidRef) || exitcode.Code(err) != exitcode.Usage {
		t.Errorf("Sync(--ref refs/merge-requests/1/head) = %v, want ErrInvalidRef (exit 2)", err)
	}
}

func TestLargeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB transfer")
	}
	t.Parallel()
	p := newPair(t)
	big := random(50<<20, 7)
	p.src.MustCommit(t, srcRepo, "main", "50 MB binary", map[string]string{"model.bin": big})
	p.mustSync(t, mirror.Options{Refs: []string{"main"}})
	got, err := p.dst.ReadFile(dstRepo, "main", "model.bin")
	if err != nil || got != big {
		t.Fatalf("model.bin on the destination: %d bytes (err %v), want the 50 MB file", len(got), err)
	}
	p.dst.ResetRequests()
	p.src.MustCommit(t, srcRepo, "main", "small", map[string]string{"README": "x\n"})
	p.mustSync(t, mirror.Options{Refs: []string{"main"}})
	if n := p.dst.ReceivedBytes(dstRepo); n > 4_000 {
		t.Errorf("commit after the binary pushed %d bytes, want only the new objects", n)
	}
}

func TestConcurrentMirrorsOfOnePair(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "one cache (lock)", false: "two caches (leases)"}[shared]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			for i, b := range []string{"main", "a", "b", "c"} {
				p.src.MustCommit(t, srcRepo, b, "c", map[string]string{b: random(20_000, byte(i))})
			}
			p.git(t, p.src, srcRepo, "tag", "v1", "main")
			p.mustSync(t, mirror.Options{Refs: []string{"main"}})
			p.src.MustCommit(t, srcRepo, "main", "next", map[string]string{"n": "1\n"})

			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := mirror.Options{All: true, Tags: true, CacheDir: p.cache}
					if !shared {
						o.CacheDir = t.TempDir()
					}
					_, errs[i] = mirror.Sync(context.Background(), p.source(), p.dest(), o)
				}()
			}
			wg.Wait()
			done := 0
			for i, err := range errs {
				if err != nil && !errors.Is(err, mirror.ErrUnchanged) {
					t.Errorf("mirror %d: %v, want success or no-op", i, err)
				}
				if err == nil {
					done++
				}
			}
			if done == 0 {
				t.Errorf("no mirror pushed anything")
			}
			if diff := cmp.Diff(mirrored(t, p.src, srcRepo), mirrored(t, p.dst, dstRepo)); diff != "" {
				t.Errorf("destination after concurrent mirrors (-source +destination):\n%s", diff)
			}
		})
	}
}

func TestPushOptionsAndServerRejection(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	optsFile := t.TempDir() + "/options"
	installHook(t, p.dst, dstRepo, "pre-receive", `i=0
while [ $i -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do eval "echo \$GIT_PUSH_OPTION_$i" >> `+optsFile+`; i=$((i+1)); done
`)
	p.mustSync(t, mirror.Options{PushOptions: []string{"ci.skip", "ci.variable=MIRRORED=1"}})
	if got := readOrEmpty(t, optsFile); got != "ci.skip\nci.variable=MIRRORED=1\n" {
		t.Errorf("push options seen by the server = %q", got)
	}

	// A protected branch (a hook that declines) is a rejection, not a retry.
	installHook(t, p.dst, dstRepo, "pre-receive", "echo 'GitLab: You are not allowed to push code to protected branches on this project.' >&2; exit 1\n")
	before := mirrored(t, p.dst, dstRepo)
	p.src.MustCommit(t, srcRepo, "main", "more", map[string]string{"a": "2\n"})
	_, err := p.sync(t, mirror.Options{})
	if !errors.Is(err, mirror.ErrRejected) || !strings.Contains(err.Error(), "refs/heads/main") {
		t.Errorf("Sync() with a declining hook = %v, want ErrRejected naming main", err)
	}
	if diff := cmp.Diff(before, mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("destination changed (-before +after):\n%s", diff)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	p.mustSync(t, mirror.Options{})
	p.src.MustCommit(t, srcRepo, "main", "next", map[string]string{"a": "2\n"})
	before := mirrored(t, p.dst, dstRepo)
	closed := "http://127.0.0.1:1/nothing.git"
	bad := func(c string) mirror.Remote { return mirror.Remote{Credentials: srcCreds, URL: c} }
	// A git older than 2.31 fails on an option it lacks; the version is only asked then.
	oldGit := filepath.Join(t.TempDir(), "git")
	if err := os.WriteFile(oldGit, []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo 'git version 2.20.1'; exit 0; fi\n"+
		"echo \"error: unknown option 'no-write-fetch-head'\" >&2\nexit 129\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		src, dst mirror.Remote
		opts     mirror.Options
		is       error
		code     int
		msg      string
	}{
		{"unknown ref", p.source(), p.dest(), mirror.Options{Refs: []string{"nope"}}, mirror.ErrRefNotFound, 4, "nope is not a branch or tag of the source (branches: main)"},
		{"unreachable source", bad(closed), p.dest(), mirror.Options{}, errdefs.ErrUnavailable, 1, "reaching source http://127.0.0.1:1/nothing.git"},
		{"missing source repo", mirror.Remote{URL: p.src.RepoURL("nope"), Credentials: srcCreds}, p.dest(), mirror.Options{}, mirror.ErrRepoNotFound, 4, "repository not found"},
		{"wrong source credentials", mirror.Remote{URL: p.src.RepoURL(srcRepo), Credentials: dstCreds}, p.dest(), mirror.Options{}, mirror.ErrAuth, 1, "source " + p.src.RepoURL(srcRepo) + ": authentication failed"},
		{"wrong destination credentials", p.source(), mirror.Remote{URL: p.dst.RepoURL(dstRepo), Credentials: srcCreds}, mirror.Options{}, mirror.ErrAuth, 1, "destination " + p.dst.RepoURL(dstRepo) + ": authentication failed"},
		{"no destination credentials", p.source(), mirror.Remote{URL: p.dst.RepoURL(dstRepo)}, mirror.Options{}, mirror.ErrAuth, 1, "destination"},
		{"missing git", p.source(), p.dest(), mirror.Options{Git: "/nonexistent/git"}, mirror.ErrGitMissing, 1, "git CLI not available"},
		{"git too old", p.source(), p.dest(), mirror.Options{Git: oldGit}, mirror.ErrGitMissing, 1, "git 2.20.1 is too old, 2.31 or newer is needed"},
		{"credentials in URL", mirror.Remote{URL: strings.Replace(p.src.RepoURL(srcRepo), "://", "://u:secret-in-url@", 1)}, p.dest(), mirror.Options{}, errdefs.ErrInvalid, 2, "carries credentials"},
		{"ssh URL", mirror.Remote{URL: "git@github.com:org/app.git"}, p.dest(), mirror.Options{}, errdefs.ErrInvalid, 2, "only http(s) URLs"},
		{"same repository", p.dest(), p.dest(), mirror.Options{}, errdefs.ErrInvalid, 2, "same repository"},
		{"prune without scope", p.source(), p.dest(), mirror.Options{Prune: true, Refs: []string{"main"}}, errdefs.ErrInvalid, 2, "prune needs"},
		{"invalid ref name", p.source(), p.dest(), mirror.Options{Refs: []string{"a..b"}}, mirror.ErrInvalidRef, 2, "not a valid ref name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.CacheDir = t.TempDir()
			_, err := mirror.Sync(context.Background(), tc.src, tc.dst, o)
			if !errors.Is(err, tc.is) || exitcode.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Sync() = %v (exit %d), want %v (exit %d) containing %q", err, exitcode.Code(err), tc.is, tc.code, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), "secret-in-url") {
				t.Errorf("error shows the credential: %v", err)
			}
			if diff := cmp.Diff(before, mirrored(t, p.dst, dstRepo)); diff != "" {
				t.Errorf("destination changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestDryRunPushesNothing(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	h := p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	res := p.mustSync(t, mirror.Options{DryRun: true})
	if len(mirrored(t, p.dst, dstRepo)) != 0 || pushes(p.dst) != 0 || res.Pushed {
		t.Errorf("dry run pushed: %+v", res)
	}
	if c := findChange(res, "refs/heads/main"); c.Action != mirror.ActionCreate || c.New != h {
		t.Errorf("dry run plan main = %+v, want create %s", c, h)
	}
}

func findChange(res *mirror.Result, ref string) mirror.Change {
	if res == nil {
		return mirror.Change{}
	}
	for _, c := range res.Changes {
		if c.Ref == ref {
			return c
		}
	}
	return mirror.Change{}
}

func uploadBytes(p *pair) int64 {
	var n int64
	for _, r := range p.src.Requests() {
		if r.Service == "git-upload-pack" && r.Method == "POST" {
			n += r.BytesOut
		}
	}
	return n
}

func TestEmptySource(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	if _, err := p.sync(t, mirror.Options{All: true, Tags: true}); !errors.Is(err, mirror.ErrUnchanged) {
		t.Errorf("Sync(--all --tags) of an empty source = %v, want ErrUnchanged", err)
	}
	if _, err := p.sync(t, mirror.Options{}); !errors.Is(err, mirror.ErrRefNotFound) || !strings.Contains(err.Error(), "it has no branches") {
		t.Errorf("Sync() of an empty source = %v, want ErrRefNotFound", err)
	}
}
