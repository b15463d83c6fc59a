package mirror_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/mirror"
)

// forkedPair is a mirrored source whose feature branch was then force-pushed upstream, while main
// and the tags moved on normally (and, with hotfix, main got an internal commit on the
// destination).
type forkedPair struct {
	*pair
	oldFeature, newFeature, newMain, internalMain string
}

func newForkedPair(t *testing.T, hotfix bool) *forkedPair {
	t.Helper()
	p := &forkedPair{pair: newPair(t)}
	p.src.MustCommit(t, srcRepo, "main", "seed", map[string]string{"a": "1\n"})
	p.oldFeature = p.src.MustCommit(t, srcRepo, "feature", "feature work", map[string]string{"f": "1\n"})
	p.git(t, p.src, srcRepo, "tag", "v1", "main")
	p.mustSync(t, mirror.Options{All: true, Tags: true})

	// Upstream: feature rebased and force-pushed, main moves on, a new tag.
	p.git(t, p.src, srcRepo, "update-ref", "refs/heads/feature", p.git(t, p.src, srcRepo, "rev-parse", "main"))
	p.newFeature = p.src.MustCommit(t, srcRepo, "feature", "feature work, rebased", map[string]string{"f": "2\n"})
	p.newMain = p.src.MustCommit(t, srcRepo, "main", "next", map[string]string{"a": "2\n"})
	p.git(t, p.src, srcRepo, "tag", "v2", "main")
	if hotfix {
		p.internalMain = p.dst.MustCommit(t, dstRepo, "main", "internal hotfix", map[string]string{"h": "1\n"})
	}
	p.dst.ResetRequests()
	return p
}

func TestPerRefMirroringPushesWhatIsSafe(t *testing.T) {
	t.Parallel()
	p := newForkedPair(t, false)
	res, err := p.sync(t, mirror.Options{All: true, Tags: true})
	if !errors.Is(err, mirror.ErrNonFastForward) || exitcode.Code(err) != exitcode.Precondition {
		t.Fatalf("Sync() = %v, want ErrNonFastForward (exit 4)", err)
	}
	msg := "refusing to update refs/heads/feature " + p.oldFeature[:8] + "→" + p.newFeature[:8] + " (the histories diverged); the 2 other changes were pushed"
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q\ndoes not contain %q", err, msg)
	}
	got := mirrored(t, p.dst, dstRepo)
	if got["refs/heads/main"] != p.newMain || got["refs/tags/v2"] != p.newMain || got["refs/heads/feature"] != p.oldFeature {
		t.Errorf("destination = %v, want main and v2 mirrored, feature left at %s", got, p.oldFeature)
	}
	if n := pushes(p.dst); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	wantRefused := []mirror.Change{{Ref: "refs/heads/feature", Action: mirror.ActionRefused, Old: p.oldFeature, New: p.newFeature, Reason: "the histories diverged"}}
	if diff := cmp.Diff(wantRefused, res.RefusedRefs); diff != "" || res.Refused != 1 {
		t.Errorf("RefusedRefs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"refs/heads/main", "refs/tags/v2"}, res.PushedRefs); diff != "" || !res.Pushed || res.Updated != 1 || res.Created != 1 {
		t.Errorf("result %+v; PushedRefs (-want +got):\n%s", res, diff)
	}

	// Again: only the refusal is left, still exit 4 (not a no-op), and nothing is pushed.
	p.dst.ResetRequests()
	res, err = p.sync(t, mirror.Options{All: true, Tags: true})
	if !errors.Is(err, mirror.ErrNonFastForward) || errors.Is(err, mirror.ErrUnchanged) || !strings.Contains(err.Error(), "; nothing was pushed") {
		t.Errorf("second Sync() = %v, want ErrNonFastForward, nothing pushed", err)
	}
	if pushes(p.dst) != 0 || res.Pushed || len(res.PushedRefs) != 0 {
		t.Errorf("second Sync() pushed: %+v", res)
	}

	// --force applies it.
	res = p.mustSync(t, mirror.Options{All: true, Tags: true, Force: true})
	if got := mirrored(t, p.dst, dstRepo)["refs/heads/feature"]; got != p.newFeature || res.Refused != 0 {
		t.Errorf("after --force feature = %s (result %+v), want %s", got, res, p.newFeature)
	}
}

func TestAtomicPushesNothing(t *testing.T) {
	t.Parallel()
	p := newForkedPair(t, false)
	before := mirrored(t, p.dst, dstRepo)
	res, err := p.sync(t, mirror.Options{All: true, Tags: true, Atomic: true})
	if !errors.Is(err, mirror.ErrNonFastForward) || exitcode.Code(err) != exitcode.Precondition ||
		!strings.Contains(err.Error(), "nothing was pushed (atomic: 2 other change(s) held back)") {
		t.Fatalf("Sync(Atomic) = %v, want ErrNonFastForward, nothing pushed", err)
	}
	if diff := cmp.Diff(before, mirrored(t, p.dst, dstRepo)); diff != "" || pushes(p.dst) != 0 || res.Pushed {
		t.Errorf("atomic sync changed the destination (%d pushes) (-before +after):\n%s", pushes(p.dst), diff)
	}
	// --atomic --force: everything in one all-or-nothing push.
	p.mustSync(t, mirror.Options{All: true, Tags: true, Atomic: true, Force: true})
	if diff := cmp.Diff(mirrored(t, p.src, srcRepo), mirrored(t, p.dst, dstRepo)); diff != "" {
		t.Errorf("after --atomic --force (-source +destination):\n%s", diff)
	}
}

func TestProtectedRefsListedFirst(t *testing.T) {
	t.Parallel()
	p := newForkedPair(t, true)
	// No --ref: the protected ref is the source's default branch, main.
	res, err := p.sync(t, mirror.Options{All: true, Tags: true})
	if !errors.Is(err, mirror.ErrNonFastForward) {
		t.Fatalf("Sync() = %v, want ErrNonFastForward", err)
	}
	if len(res.RefusedRefs) != 2 || res.RefusedRefs[0].Ref != "refs/heads/main" || !res.RefusedRefs[0].Protected || res.RefusedRefs[1].Protected {
		t.Fatalf("RefusedRefs = %+v, want main (protected) then feature", res.RefusedRefs)
	}
	if !strings.Contains(err.Error(), "refusing to update refs/heads/main [deploy ref] "+p.internalMain[:8]+"→"+p.newMain[:8]+" (the destination has commits the source does not), refs/heads/feature") {
		t.Errorf("error %q does not list main first", err)
	}
	if got := mirrored(t, p.dst, dstRepo); got["refs/tags/v2"] != p.newMain || got["refs/heads/main"] != p.internalMain {
		t.Errorf("destination = %v, want v2 pushed and main kept at the internal commit", got)
	}
	// Named protected refs win over the default branch.
	res, _ = p.sync(t, mirror.Options{All: true, Tags: true, Protected: []string{"feature"}})
	if len(res.RefusedRefs) != 2 || res.RefusedRefs[0].Ref != "refs/heads/feature" || res.RefusedRefs[1].Protected {
		t.Errorf("RefusedRefs with Protected=feature = %+v, want feature first", res.RefusedRefs)
	}
}
