package release

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/giteatest"
	"github.com/tagrelay/tagrelay/mirror"
)

// TestMirrorStepLFS: a release's mirror of a repository holding Git LFS files, between two real
// Giteas (each with its own LFS store). Without `lfs: true` the step is refused, says which
// setting fixes it and writes nothing; with it the destination gets the refs and the objects.
func TestMirrorStepLFS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two Giteas")
	}
	t.Parallel()
	giteatest.NeedGitLFS(t)
	s := giteatest.StartN(t, 2)
	src, dst := s[0], s[1]
	srcURL, dstURL := src.CreateRepo(t, "infra"), dst.CreateRepo(t, "infra")
	w := giteatest.NewWorktree(t, srcURL, src.Credentials())
	w.Git(t, "lfs", "track", "*.bin")
	w.Commit(t, "model", map[string]string{"model.bin": strings.Repeat("weights ", 4096), "README.md": "infra\n"})
	w.Git(t, "push", "--quiet", "origin", "main")

	secrets := map[string]string{"SRC_TOKEN": src.Credentials().Password, "DST_TOKEN": dst.Credentials().Password}
	o := &Options{MirrorCacheDir: t.TempDir(), Secret: func(env, _ string) (string, error) { return secrets[env], nil }}
	cfg := MirrorConfig{Source: srcURL, Dest: dstURL, Refs: []string{"main"}, SourceTokenEnv: "SRC_TOKEN", DestTokenEnv: "DST_TOKEN"}

	step, err := newMirrorStep(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	_, err = step.plan(context.Background())
	if !errors.Is(err, mirror.ErrLFSPointers) || exitcode.Code(err) != exitcode.Precondition || !strings.Contains(errdefs.Hint(err), "set lfs: true") {
		t.Fatalf("plan without lfs = %v (hint %q); want ErrLFSPointers, exit 4, hint naming lfs: true", err, errdefs.Hint(err))
	}
	if refs := giteatest.LsRemote(t, dstURL, dst.Credentials()); len(refs) != 0 || len(dst.LFSObjects(t)) != 0 {
		t.Fatalf("refused step wrote to the destination: refs %v, LFS store %v", refs, dst.LFSObjects(t))
	}

	cfg.LFS = true
	if step, err = newMirrorStep(cfg, o); err != nil {
		t.Fatal(err)
	}
	if _, _, err := step.run(context.Background()); err != nil {
		t.Fatalf("run with lfs: %v", err)
	}
	if got := dst.LFSObjects(t); len(got) != 1 {
		t.Errorf("destination LFS store = %v, want the one object", got)
	}
	if refs := giteatest.LsRemote(t, dstURL, dst.Credentials()); refs["refs/heads/main"] == "" {
		t.Errorf("destination refs = %v, want main", refs)
	}
}
