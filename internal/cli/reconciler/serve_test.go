package reconciler_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/reconciler"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// TestServeBadFlags: serve refuses inconsistent flags before it touches the cluster: exit 2,
// one line naming the problem, no secret in it.
func TestServeBadFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := write("token", apiToken)
	hook := write("hook", "the-same-hook-s3cret")
	shortKey := write("session-key", "short-s3cret-key")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no API token"},
		{[]string{"--token-file", token, "--gitlab-webhook-secret-file", hook, "--github-webhook-secret-file", hook}, "hold the same secret"},
		{[]string{"--token-file", token, "--gitlab-url", "https://gitlab.example"}, "--gitlab-url without --gitlab-audience"},
		{[]string{"--token-file", token, "--leader-elect", "maybe"}, `invalid --leader-elect "maybe"`},
		{[]string{"--token-file", token, "--shards", "0"}, "invalid --shards 0"},
		{[]string{"--token-file", token, "--shards", "999", "--leader-elect", "true"}, "invalid --shards 999"},
		{[]string{"--token-file", token, "--shards", "4", "--leader-elect", "false"}, "--shards 4 without leader election"},
		{[]string{"--token-file", token, "--max-source-bytes", "lots"}, `invalid --max-source-bytes "lots"`},
		{[]string{"--token-file", token, "--max-concurrent-syncs", "0"}, "invalid --max-concurrent-syncs 0"},
		{[]string{"--token-file", token, "--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", filepath.Join(dir, "nope.key")}, "check --tls-cert"},
		{[]string{"--token-file", token, "--session-key-file", shortKey}, "--session-key-file holds 16 bytes, fewer than 32"},
		{[]string{"--token-file", token, "--pprof-listen", "localhost"}, `invalid --pprof-listen "localhost"`},
	} {
		var out, errOut bytes.Buffer
		env := clirun.NewEnv(nil, &out, &errOut, nil)
		args := append([]string{"tagrelay-reconciler", "serve", "--listen", "127.0.0.1:0", "--config", filepath.Join(dir, "apps.yaml")}, tc.args...)
		code := clirun.Run(context.Background(), env, reconciler.NewApp(env), args)
		stderr := errOut.String()
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
			strings.Contains(stderr, "the-same-hook-s3cret") || strings.Contains(stderr, "short-s3cret-key") || strings.Contains(stderr, apiToken) {
			t.Errorf("serve %v = exit %d, stderr %q; want 2, one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}
