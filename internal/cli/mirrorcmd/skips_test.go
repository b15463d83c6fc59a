package mirrorcmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

// cliResult is what one in-process run of tagrelay-mirror produced.
type cliResult struct {
	stdout, stderr string
	code           int
}

// mirrorCLI runs `tagrelay-mirror args...` in-process.
func mirrorCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := clirun.NewEnv(strings.NewReader(""), &stdout, &stderr, nil)
	env.Dir = t.TempDir()
	app := clirun.NewSingleApp(env, "tagrelay-mirror", NewCommand(env))
	code := clirun.Run(context.Background(), env, app, append([]string{"tagrelay-mirror"}, args...))
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

const skipsToken = "dst-token-skips-77"

// forkedRepos is a source mirrored once, then: main moves on, a tag is added, and the feature
// branch is force-pushed (rebased) upstream.
type forkedRepos struct {
	src, dst                        *gittest.Server
	args                            []string
	oldFeature, newFeature, newMain string
}

func newForkedRepos(t *testing.T) *forkedRepos {
	t.Helper()
	f := &forkedRepos{src: gittest.New(t), dst: gittest.New(t, gittest.WithBasicAuth("oauth2", skipsToken))}
	f.src.MustCreateRepo(t, "ext/app")
	f.dst.MustCreateRepo(t, "int/app")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(skipsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.args = []string{"--source", f.src.RepoURL("ext/app"), "--dest", f.dst.RepoURL("int/app"),
		"--dest-token-file", tokenFile, "--cache-dir", t.TempDir(), "--all", "--tags", "--ref", "main"}
	f.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	f.oldFeature = f.src.MustCommit(t, "ext/app", "feature", "feature", map[string]string{"f": "1\n"})
	if r := mirrorCLI(t, f.args...); r.code != 0 {
		t.Fatalf("first mirror = exit %d: %s", r.code, r.stderr)
	}
	main := f.src.MustCommit(t, "ext/app", "main", "next", map[string]string{"a": "2\n"})
	if _, err := f.src.Git("ext/app", "update-ref", "refs/heads/feature", main); err != nil {
		t.Fatal(err)
	}
	f.newFeature = f.src.MustCommit(t, "ext/app", "feature", "feature, rebased", map[string]string{"f": "2\n"})
	f.newMain = main
	if _, err := f.src.Git("ext/app", "tag", "v1", main); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *forkedRepos) dest(t *testing.T) map[string]string {
	t.Helper()
	refs, err := f.dst.Refs("int/app")
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func TestMirrorForcePushedFeatureBranch(t *testing.T) {
	t.Parallel()
	f := newForkedRepos(t)
	dotenv := filepath.Join(t.TempDir(), "mirror.env")
	r := mirrorCLI(t, append(f.args, "--dotenv", dotenv)...)
	if r.code != 4 {
		t.Fatalf("mirror = exit %d, want 4\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantOut := "updated      refs/heads/main " + f.oldMainShort(t) + ".." + f.newMain[:8] + "\n" +
		"created      refs/tags/v1 " + f.newMain[:8] + "\n" +
		"refused      refs/heads/feature " + f.oldFeature[:8] + "..." + f.newFeature[:8] + " (the histories diverged)\n" +
		"partly mirrored " + f.src.RepoURL("ext/app") + " -> " + f.dst.RepoURL("int/app") + ": 1 created, 1 updated, 0 deleted, 0 unchanged, 1 refused\n"
	if diff := cmp.Diff(wantOut, r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	for _, s := range []string{"refusing to update refs/heads/feature " + f.oldFeature[:8] + "→" + f.newFeature[:8], "the 2 other changes were pushed", "--force"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not say %q", r.stderr, s)
		}
	}
	got := f.dest(t)
	if got["refs/heads/main"] != f.newMain || got["refs/tags/v1"] != f.newMain || got["refs/heads/feature"] != f.oldFeature {
		t.Errorf("destination = %v, want main and v1 mirrored and feature kept", got)
	}
	env, _ := os.ReadFile(dotenv)
	if !strings.Contains(string(env), "TAGRELAY_MIRROR_REFS=refs/heads/main,refs/tags/v1\n") || !strings.Contains(string(env), "TAGRELAY_MIRROR_REFUSED=refs/heads/feature\n") {
		t.Errorf("dotenv = %q", env)
	}

	// JSON: the result with the pushed and refused refs, then the error document every failing
	// command prints; still exit 4, and nothing else to push.
	r = mirrorCLI(t, append(f.args, "-o", "json")...)
	var res struct {
		Pushed      bool
		PushedRefs  []string
		Refused     int
		RefusedRefs []struct{ Ref, Old, New, Reason string }
	}
	var errDoc struct{ ExitCode int }
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := errors.Join(dec.Decode(&res), dec.Decode(&errDoc)); err != nil || r.code != 4 || errDoc.ExitCode != 4 {
		t.Fatalf("-o json = exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if res.Pushed || len(res.PushedRefs) != 0 || res.Refused != 1 || res.RefusedRefs[0].Ref != "refs/heads/feature" ||
		res.RefusedRefs[0].Old != f.oldFeature || res.RefusedRefs[0].New != f.newFeature {
		t.Errorf("JSON result = %+v", res)
	}
}

func (f *forkedRepos) oldMainShort(t *testing.T) string {
	t.Helper()
	h, err := f.src.RevParse("ext/app", "main~1")
	if err != nil {
		t.Fatal(err)
	}
	return h[:8]
}

func TestMirrorAtomicPushesNothing(t *testing.T) {
	t.Parallel()
	f := newForkedRepos(t)
	before := f.dest(t)
	dotenv := filepath.Join(t.TempDir(), "mirror.env")
	r := mirrorCLI(t, append(f.args, "--atomic", "--dotenv", dotenv)...)
	if r.code != 4 || !strings.Contains(r.stderr, "nothing was pushed (atomic: 2 other change(s) held back)") {
		t.Fatalf("--atomic = exit %d, stderr %q; want 4, nothing pushed", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "refused      refs/heads/feature") || !strings.HasPrefix(lastLine(r.stdout), "refused ") {
		t.Errorf("stdout %q does not report the refusal", r.stdout)
	}
	if diff := cmp.Diff(before, f.dest(t)); diff != "" {
		t.Errorf("--atomic changed the destination (-before +after):\n%s", diff)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestMirrorLFSPointersWithoutLFS: a bad input for this command (an LFS repository without
// --lfs) gets exit 4, a message naming the files and the flag, and nothing written.
func TestMirrorLFSPointersWithoutLFS(t *testing.T) {
	t.Parallel()
	src, dst := gittest.New(t), gittest.New(t, gittest.WithBasicAuth("oauth2", skipsToken))
	src.MustCreateRepo(t, "ext/app")
	dst.MustCreateRepo(t, "int/app")
	sum := sha256.Sum256([]byte("weights"))
	src.MustCommit(t, "ext/app", "main", "lfs", map[string]string{"model.bin": fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 7\n", hex.EncodeToString(sum[:]))})
	dotenv := filepath.Join(t.TempDir(), "mirror.env")
	r := mirrorCLI(t, "--source", src.RepoURL("ext/app"), "--dest", dst.RepoURL("int/app"), "--dest-token", skipsToken,
		"--cache-dir", t.TempDir(), "--dotenv", dotenv)
	if r.code != 4 || !strings.Contains(r.stderr, "1 Git LFS pointer(s) (model.bin)") || !strings.Contains(r.stderr, "pass --lfs") {
		t.Errorf("mirror of LFS pointers = exit %d, stderr %q; want 4 naming model.bin and --lfs", r.code, r.stderr)
	}
	if refs, _ := dst.Refs("int/app"); len(refs) != 0 {
		t.Errorf("destination got refs %v", refs)
	}
	if _, err := os.Stat(dotenv); !os.IsNotExist(err) {
		t.Errorf("dotenv written: %v", err)
	}
	if strings.Contains(r.stdout+r.stderr, skipsToken) {
		t.Errorf("output shows the token")
	}
}
