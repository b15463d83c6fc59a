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

// TestServeBadNotify: serve refuses a bad --external-url or --notify-timeout, and an apps.yaml
// whose notify: section is incomplete, before it touches the cluster: exit 2, one line naming the
// problem, without the URL's password.
func TestServeBadNotify(t *testing.T) {
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
	good := write("apps.yaml", "apps:\n  - {name: web, repo: https://git.example/infra.git, namespace: web}\n")
	bad := write("bad.yaml", "apps:\n  - name: web\n    repo: https://git.example/infra.git\n    namespace: web\n"+
		"    notify:\n      gitlab: {url: https://gitlab.example, project: team/web}\n      chat: {url: 'https://hooks.example/x', template: '{{.Nope'}\n")
	for _, tc := range []struct {
		config string
		args   []string
		want   []string
	}{
		{good, []string{"--external-url", "https://admin:pa55word@deploy.example"}, []string{"--external-url is not an http(s) URL"}},
		{good, []string{"--external-url", "deploy.example"}, []string{"--external-url is not an http(s) URL"}},
		{good, []string{"--notify-timeout", "0s"}, []string{"--notify-timeout 0s"}},
		{bad, nil, []string{"notify: gitlab needs tokenFile", "chat.template"}},
	} {
		var out, errOut bytes.Buffer
		env := clirun.NewEnv(nil, &out, &errOut, nil)
		args := append([]string{"tagrelay-reconciler", "serve", "--listen", "127.0.0.1:0", "--token-file", token, "--config", tc.config,
			"--kubeconfig", filepath.Join(dir, "no-kubeconfig")}, tc.args...)
		code := clirun.Run(context.Background(), env, reconciler.NewApp(env), args)
		stderr := errOut.String()
		ok := code == 2 && strings.Count(strings.TrimSpace(stderr), "\n") == 0 && !strings.Contains(stderr, "pa55word")
		for _, w := range tc.want {
			ok = ok && strings.Contains(stderr, w)
		}
		if !ok {
			t.Errorf("serve %v = exit %d, stderr %q; want 2, one line with %q", tc.args, code, stderr, tc.want)
		}
	}
}
