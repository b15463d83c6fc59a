package releasecmd

import (
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// runTTY runs the CLI as on a terminal, answering stdin.
func runTTY(t *testing.T, stdin string, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.RunWith(t, []clitest.NewCommand{NewCommand}, clitest.Options{Vars: vars, Stdin: stdin, TTY: true}, args...)
}

func runCLI(t *testing.T, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, []clitest.NewCommand{NewCommand}, vars, args...)
}

func TestReleaseConfirmation(t *testing.T) {
	t.Parallel()
	const token = "glpat-release-cli-0123456789"
	git := gittest.New(t, gittest.WithBasicAuth("oauth2", token))
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	reg.Write(t, "team/app:1a2b3c4d", regtest.Image(t, 256, 1))
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "infra", map[string]string{"values.yaml": "image:\n  repository: " + image + "\n  tag: \"0000000a\"\n"})
	cfg := clitest.WriteFile(t, t.TempDir(), ".tagrelay.yaml", "image:\n  repository: "+image+"\ninfra:\n  repo: "+git.RepoURL("team/infra")+"\n  files: [values.yaml]\n")
	vars := map[string]string{"GITLAB_TOKEN": token, "CI_COMMIT_SHORT_SHA": "1a2b3c4d"}
	args := []string{"release", "--version", "v2.0.0", "--config", cfg, "--insecure"}
	infra := func() string { return git.MustReadFile(t, "team/infra", "main", "values.yaml") }
	before := infra()

	for _, tc := range []struct {
		name, stdin string
		tty         bool
		extra       []string
		code        int
		want        string
	}{
		{name: "bad version", tty: true, extra: []string{"--version", "latest"}, code: 2, want: "invalid version"},
		{name: "no terminal", code: 2, want: "pass --yes"},
		{name: "no config", extra: []string{"--yes", "--config", cfg + ".absent"}, code: 2,
			want: "no such file or directory; write a .tagrelay.yaml (see docs/release.md) or pass --config FILE"},
		{name: "answered no", tty: true, stdin: "n\n", code: 2, want: "release not confirmed"},
		{name: "dry run", extra: []string{"--dry-run"}, code: 0, want: `values.yaml:3 ` + image + ` 0000000a -> v2.0.0`},
	} {
		a := append(append([]string{}, args...), tc.extra...)
		var r clitest.Result
		if tc.tty {
			r = runTTY(t, tc.stdin, vars, a...)
		} else {
			r = runCLI(t, vars, a...)
		}
		if r.Code != tc.code || !strings.Contains(r.Stdout+r.Stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", tc.name, r.Code, tc.code, tc.want, r.Stdout, r.Stderr)
		}
		if infra() != before || reg.Digest(t, "team/app:v2.0.0") != "" {
			t.Fatalf("%s: something was written", tc.name)
		}
	}

	r := runTTY(t, "yes\n", vars, args...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "Release? [y/N]") || !strings.Contains(infra(), `tag: "v2.0.0"`) {
		t.Fatalf("answered yes: exit %d\nstdout:\n%s\nstderr:\n%s\ninfra:\n%s", r.Code, r.Stdout, r.Stderr, infra())
	}
	if strings.Contains(r.Stdout+r.Stderr, token) {
		t.Error("the token appears in the output")
	}
}
