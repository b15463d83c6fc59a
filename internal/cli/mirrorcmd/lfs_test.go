package mirrorcmd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/giteatest"
)

// TestMirrorLFSCommand: `tagrelay-mirror --lfs` between two real Giteas, as a CI job runs it
// (tokens in files): the dry run says what it would copy and writes nothing, the run
// copies, reports and exports the count, and the destination's checkout has the real file.
func TestMirrorLFSCommand(t *testing.T) {
	giteatest.NeedGitLFS(t)
	t.Parallel()
	g := giteatest.StartN(t, 2)
	src, dst := g[0], g[1]
	srcURL, dstURL := src.CreateRepo(t, "app"), dst.CreateRepo(t, "app")
	w := giteatest.NewWorktree(t, srcURL, src.Credentials())
	w.Git(t, "lfs", "track", "*.bin")
	model := strings.Repeat("model weights ", 20_000)
	w.Commit(t, "model", map[string]string{"model.bin": model})
	w.Git(t, "push", "--quiet", "origin", "main")

	tokens := t.TempDir()
	for name, tok := range map[string]string{"src": src.Token, "dst": dst.Token} {
		if err := os.WriteFile(filepath.Join(tokens, name), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--source", srcURL, "--source-user", giteatest.Admin, "--source-token-file", filepath.Join(tokens, "src"),
		"--dest", dstURL, "--dest-user", giteatest.Admin, "--dest-token-file", filepath.Join(tokens, "dst"),
		"--cache-dir", t.TempDir(), "--lfs"}
	r := mirrorCLI(t, append(args, "--dry-run")...)
	if r.code != 0 || !strings.Contains(r.stdout, "lfs          1 objects: 1 to copy, 0 already on the destination\n") {
		t.Fatalf("--dry-run --lfs = exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(dst.LFSObjects(t)) != 0 || len(giteatest.LsRemote(t, dstURL, dst.Credentials())) != 0 {
		t.Fatalf("the dry run wrote to the destination")
	}

	dotenv := filepath.Join(t.TempDir(), "mirror.env")
	r = mirrorCLI(t, append(args, "--dotenv", dotenv)...)
	want := "lfs          1 objects: 1 copied (" + strconv.Itoa(len(model)) + " bytes), 0 already on the destination\n"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("--lfs = exit %d, want stdout with %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	if env, _ := os.ReadFile(dotenv); !strings.Contains(string(env), "TAGRELAY_MIRROR_LFS_COPIED=1\n") {
		t.Errorf("dotenv = %q", env)
	}
	if got, err := os.ReadFile(filepath.Join(giteatest.Checkout(t, dstURL, dst.Credentials()), "model.bin")); err != nil || string(got) != model {
		t.Errorf("destination checkout model.bin: %d bytes (%v), want the real %d", len(got), err, len(model))
	}
	for _, secret := range []string{src.Token, dst.Token} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("output shows a token")
		}
	}
}
