package mirrorcmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
)

const (
	mirrorSrcToken = "src-secret-token-42"
	mirrorDstToken = "dst-secret-token-43"
)

// mirrorPair is an external and an internal git server with one repository each.
type mirrorPair struct {
	src, dst *gittest.Server
	cache    string
	args     []string // --source … --dest … --cache-dir …, credentials included
}

func newMirrorPair(t *testing.T) *mirrorPair {
	t.Helper()
	p := &mirrorPair{
		src:   gittest.New(t, gittest.WithBasicAuth("reader", mirrorSrcToken)),
		dst:   gittest.New(t, gittest.WithBasicAuth("oauth2", mirrorDstToken)),
		cache: t.TempDir(),
	}
	p.src.MustCreateRepo(t, "ext/app")
	p.dst.MustCreateRepo(t, "int/app")
	tokenFile := clitest.WriteFile(t, t.TempDir(), "dst-token", mirrorDstToken+"\n")
	p.args = []string{"mirror",
		"--source", strings.Replace(p.src.RepoURL("ext/app"), "http://", "http://reader:"+mirrorSrcToken+"@", 1),
		"--dest", p.dst.RepoURL("int/app"), "--dest-token-file", tokenFile,
		"--cache-dir", p.cache}
	return p
}

func (p *mirrorPair) run(t *testing.T, extra ...string) clitest.Result {
	t.Helper()
	return runCLI(t, nil, append(append([]string(nil), p.args...), extra...)...)
}

func (p *mirrorPair) destRefs(t *testing.T) map[string]string {
	t.Helper()
	refs, err := p.dst.Refs("int/app")
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func TestMirrorCommand(t *testing.T) {
	t.Parallel()
	p := newMirrorPair(t)
	main := p.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	p.src.MustCommit(t, "ext/app", "dev", "dev", map[string]string{"b": "1\n"})
	dotenv := filepath.Join(t.TempDir(), "mirror.env")

	r := p.run(t, "--ref", "main", "--dotenv", dotenv)
	if r.Code != 0 {
		t.Fatalf("mirror = exit %d\n%s", r.Code, r.Stderr)
	}
	wantOut := "created      refs/heads/main " + main[:8] + "\nmirrored " + p.src.RepoURL("ext/app") + " -> " + p.dst.RepoURL("int/app") + ": 1 created, 0 updated, 0 deleted, 0 unchanged\n"
	if diff := cmp.Diff(wantOut, r.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	wantEnv := "TAGRELAY_MIRROR_CREATED=1\nTAGRELAY_MIRROR_UPDATED=0\nTAGRELAY_MIRROR_DELETED=0\nTAGRELAY_MIRROR_REFS=refs/heads/main\nTAGRELAY_MIRROR_SHA=" + main + "\n"
	if diff := cmp.Diff(wantEnv, clitest.ReadFile(t, dotenv)); diff != "" {
		t.Errorf("dotenv (-want +got):\n%s", diff)
	}
	clitest.AssertNoSecrets(t, r, mirrorSrcToken, mirrorDstToken)

	// Nothing new: exit 3 and no push; --allow-noop accepts it.
	p.dst.ResetRequests()
	r = p.run(t, "--ref", "main")
	if r.Code != 3 || !strings.Contains(r.Stderr, "destination already up to date") || !strings.Contains(r.Stderr, "--allow-noop") {
		t.Errorf("no-change mirror = exit %d, stderr %q; want 3 with a hint", r.Code, r.Stderr)
	}
	for _, req := range p.dst.Requests() {
		if req.Service == "git-receive-pack" && req.Method == "POST" {
			t.Errorf("no-change mirror pushed")
		}
	}
	if r = p.run(t, "--ref", "main", "--allow-noop"); r.Code != 0 || !strings.Contains(r.Stderr, "no-op accepted") {
		t.Errorf("--allow-noop = exit %d, stderr %q", r.Code, r.Stderr)
	}

	// JSON result of an --all run.
	r = p.run(t, "--all", "-o", "json")
	var res struct {
		Created, Unchanged int
		Changes            []struct{ Ref, Action, New string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 {
		t.Fatalf("--output json = exit %d, %v:\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	if res.Created != 1 || res.Unchanged != 1 || len(res.Changes) != 2 || res.Changes[0].Ref != "refs/heads/dev" {
		t.Errorf("JSON result = %+v", res)
	}
}

func TestMirrorCommandNonFastForward(t *testing.T) {
	t.Parallel()
	p := newMirrorPair(t)
	p.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	if r := p.run(t); r.Code != 0 {
		t.Fatalf("first mirror = exit %d: %s", r.Code, r.Stderr)
	}
	internal := p.dst.MustCommit(t, "int/app", "main", "internal", map[string]string{"i": "1\n"})
	upstream := p.src.MustCommit(t, "ext/app", "main", "upstream", map[string]string{"a": "2\n"})

	r := p.run(t)
	if r.Code != 4 || !strings.Contains(r.Stderr, "refusing to update refs/heads/main") || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("non-fast-forward mirror = exit %d, stderr %q; want 4 naming the ref and --force", r.Code, r.Stderr)
	}
	if got := p.destRefs(t)["refs/heads/main"]; got != internal {
		t.Errorf("destination main = %s, want the internal commit %s untouched", got, internal)
	}
	if r = p.run(t, "--force"); r.Code != 0 || !strings.Contains(r.Stdout, "forced") {
		t.Errorf("--force = exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := p.destRefs(t)["refs/heads/main"]; got != upstream {
		t.Errorf("destination main after --force = %s, want %s", got, upstream)
	}
}

func TestMirrorCommandBadInput(t *testing.T) {
	t.Parallel()
	p := newMirrorPair(t)
	p.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	before := p.destRefs(t)
	srcURL := p.src.RepoURL("ext/app")
	dstURL := p.dst.RepoURL("int/app")
	wrongFile := clitest.WriteFile(t, t.TempDir(), "wrong", "wrong-token-99\n")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no source", []string{"mirror", "--dest", dstURL, "--cache-dir", p.cache}, 2, "tagrelay: no source repository given; pass --source URL (or GIT_INPUT_URL)"},
		{"unknown ref", append(append([]string(nil), p.args...), "--ref", "nope"), 4, "nope is not a branch or tag of the source (branches: main); check --ref (a branch or tag name of the source)"},
		{"unreachable source", []string{"mirror", "--source", "http://127.0.0.1:1/x.git", "--dest", dstURL, "--cache-dir", p.cache}, 1, "reaching source http://127.0.0.1:1/x.git"},
		{"wrong source credentials", []string{"mirror", "--source", srcURL, "--source-token-file", wrongFile, "--dest", dstURL, "--dest-token", mirrorDstToken, "--cache-dir", p.cache}, 1, "source " + srcURL + ": authentication failed"},
		{"wrong destination credentials", []string{"mirror", "--source", srcURL, "--source-token", mirrorSrcToken, "--source-user", "reader", "--dest", dstURL, "--dest-token-file", wrongFile, "--cache-dir", p.cache}, 1, "destination " + dstURL + ": authentication failed"},
		{"unknown flag", append(append([]string(nil), p.args...), "--bogus"), 2, "flag provided but not defined: -bogus"},
		{"prune without scope", append(append([]string(nil), p.args...), "--prune"), 2, "add --all and/or --tags to --prune"},
		{"hidden ref", append(append([]string(nil), p.args...), "--ref", "refs/merge-requests/1/head"), 2, "only refs/heads/* and refs/tags/* are mirrored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d containing %q", r.Code, r.Stderr, tc.code, tc.msg)
			}
			if n := strings.Count(r.Stderr, "tagrelay: "); n != 1 {
				t.Errorf("stderr has %d error lines, want 1: %q", n, r.Stderr)
			}
			clitest.AssertNoSecrets(t, r, mirrorSrcToken, mirrorDstToken, "wrong-token-99")
			if diff := cmp.Diff(before, p.destRefs(t)); diff != "" {
				t.Errorf("destination changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestMirrorCommandNoDefaultBranch: a source whose HEAD names no branch, and no --ref: the
// library says so, the command names the flags; nothing is pushed.
func TestMirrorCommandNoDefaultBranch(t *testing.T) {
	t.Parallel()
	p := newMirrorPair(t)
	p.src.MustCommit(t, "ext/app", "dev", "seed", map[string]string{"a": "1\n"})
	if _, err := p.src.Git("ext/app", "symbolic-ref", "HEAD", "refs/heads/gone"); err != nil {
		t.Fatal(err)
	}
	r := p.run(t)
	if want := "the source has no default branch (branches: dev); pass --ref BRANCH or --all"; r.Code != 4 || !strings.Contains(r.Stderr, want) {
		t.Errorf("exit %d, stderr %q; want 4 containing %q", r.Code, r.Stderr, want)
	}
	if refs := p.destRefs(t); len(refs) != 0 {
		t.Errorf("destination refs = %v, want none", refs)
	}
}

// TestMirrorCommandWithoutGit runs with a PATH that has no git: not parallel (it changes PATH).
func TestMirrorCommandWithoutGit(t *testing.T) {
	p := newMirrorPair(t)
	p.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	t.Setenv("PATH", t.TempDir())
	r := p.run(t)
	if r.Code != 1 || !strings.Contains(r.Stderr, `git CLI not available: "git" not found on PATH; install git ≥ 2.31`) {
		t.Errorf("without git: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestMirrorCommandCloudPiNativeVariables runs with only the variables of the platform's
// .repo_pull_sync job: not parallel (it sets process env vars, which urfave/cli reads).
func TestMirrorCommandCloudPiNativeVariables(t *testing.T) {
	p := newMirrorPair(t)
	main := p.src.MustCommit(t, "ext/app", "main", "seed", map[string]string{"a": "1\n"})
	p.src.MustCommit(t, "ext/app", "other", "other", map[string]string{"o": "1\n"})
	p.git(t, "tag", "v1", main)
	optsFile := filepath.Join(t.TempDir(), "push-options")
	hooks := filepath.Join(p.dst.Root, "int/app.git", "hooks")
	clitest.WriteFile(t, hooks, "pre-receive", "#!/bin/sh\necho \"${GIT_PUSH_OPTION_0:-none}\" >> "+optsFile+"\n")
	if err := os.Chmod(filepath.Join(hooks, "pre-receive"), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"GIT_INPUT_URL": p.src.RepoURL("ext/app"), "GIT_INPUT_USER": "reader", "GIT_INPUT_PASSWORD": mirrorSrcToken,
		"GIT_OUTPUT_URL": p.dst.RepoURL("int/app"), "GIT_OUTPUT_USER": "oauth2", "GIT_OUTPUT_PASSWORD": mirrorDstToken,
		"GIT_BRANCH_DEPLOY": "main", "SYNC_ALL": "false", "PUSH_TAGS": "true", "CI_SKIP": "true",
		"TAGRELAY_CACHE_DIR": p.cache,
	} {
		t.Setenv(k, v)
	}
	r := runCLI(t, nil, "mirror")
	if r.Code != 0 {
		t.Fatalf("mirror with GIT_* variables = exit %d: %s", r.Code, r.Stderr)
	}
	want := map[string]string{"refs/heads/main": main, "refs/tags/v1": main}
	if diff := cmp.Diff(want, p.destRefs(t)); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}
	if got := clitest.ReadFile(t, optsFile); got != "ci.skip\n" {
		t.Errorf("push options = %q, want ci.skip (CI_SKIP=true)", got)
	}
	clitest.AssertNoSecrets(t, r, mirrorSrcToken, mirrorDstToken)
}

func (p *mirrorPair) git(t *testing.T, args ...string) {
	t.Helper()
	if _, err := p.src.Git("ext/app", args...); err != nil {
		t.Fatal(err)
	}
}
