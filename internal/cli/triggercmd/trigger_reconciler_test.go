package triggercmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// TestTriggerReconcilerInputErrors: bad input exits 2 (and an unreachable reconciler 1) with
// one line naming the input, and the token never shows. The happy paths run against a real
// reconciler in internal/cli/reconciler.
func TestTriggerReconcilerInputErrors(t *testing.T) {
	t.Parallel()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok-s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no url", []string{"--app", "web", "--token-file", token}, 2, "no reconciler URL"},
		{"bad url", []string{"--url", "ftp://x", "--app", "web", "--token-file", token}, 2, "invalid reconciler URL"},
		{"no app", []string{"--url", "http://127.0.0.1:1", "--token-file", token}, 2, "no app given"},
		{"no token", []string{"--url", "http://127.0.0.1:1", "--app", "web"}, 2, "no reconciler API token"},
		{"missing token file", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token + ".nope"}, 2, "reading secret file"},
		{"bad flag value", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token, "--wait=maybe"}, 2, "invalid"},
		{"unreachable", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token}, 1, "triggering the reconciler"},
		{"rollback and unpin", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token, "--rollback", "--unpin"}, 2, "--rollback and --unpin together"},
		{"rollback with an image", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token, "--rollback=2", "--expect-image", "x:1"}, 2, "--expect-image or --restart with --rollback"},
		{"rollback to a branch", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token, "--rollback=main"}, 2, "want a history entry number or a commit hash"},
		{"rollback value after a space", []string{"--url", "http://127.0.0.1:1", "--app", "web", "--token-file", token, "--rollback", "2"}, 2, `unexpected argument "2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			env := clirun.NewEnv(nil, &stdout, &stderr, nil)
			args := append([]string{"tagrelay", "trigger", "reconciler"}, tc.args...)
			code := clirun.Run(context.Background(), env, clitest.App(env, NewCommand), args)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("trigger reconciler %v = exit %d, stderr %q; want exit %d containing %q", tc.args, code, stderr.String(), tc.code, tc.want)
			}
			if strings.Contains(stdout.String()+stderr.String(), "tok-s3cret-value") {
				t.Errorf("output leaks the token: %s%s", stdout.String(), stderr.String())
			}
		})
	}
}
