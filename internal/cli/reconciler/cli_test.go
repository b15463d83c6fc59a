package reconciler_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/cli/reconciler"
	"github.com/tagrelay/tagrelay/internal/cli/tagrelay"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// TestMain runs the tests on the shared cluster; started as `TEST render-worker` (the Helm
// template worker every command starts from its own binary), the test binary is the worker.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "render-worker" {
		os.Exit(clirun.Main(reconciler.NewApp))
	}
	kubetest.Main(m)
}

const (
	gitToken = "git-s3cret-token"
	apiToken = "api-s3cret-token"
)

type fixture struct {
	t                     *testing.T
	dir, ns, sys, config  string
	kubeconfig, tokenFile string
	git                   *gittest.Server
}

func newFixture(t *testing.T) *fixture {
	c := kubetest.Shared(t)
	t.Parallel()
	f := &fixture{t: t, dir: t.TempDir(), ns: kubetest.Namespace(t, c), sys: kubetest.Namespace(t, c),
		kubeconfig: c.Kubeconfig, git: gittest.New(t, gittest.WithBasicAuth("ci", gitToken))}
	f.git.MustCreateRepo(t, "infra")
	f.write("git-token", gitToken)
	f.tokenFile = f.write("api-token", apiToken+"\n")
	f.config = f.write("apps.yaml", fmt.Sprintf(`apps:
- name: web
  repo: %s
  path: apps/web
  namespace: %s
  timeout: 1m
  auth: {username: ci, tokenFile: %s}
`, f.git.RepoURL("infra"), f.ns, filepath.Join(f.dir, "git-token")))
	return f
}

func (f *fixture) write(name, content string) string {
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) deploy(tag string) {
	f.git.MustCommit(f.t, "infra", "main", "deploy "+tag, map[string]string{"apps/web/web.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example.com/web:%s"}]}
`, tag)})
}

// run runs a command of tagrelay-reconciler (or of tagrelay, when args[0] is "tagrelay").
func (f *fixture) run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	env := clirun.NewEnv(nil, &out, &errOut, nil)
	app := reconciler.NewApp(env)
	if args[0] == "tagrelay" {
		app = tagrelay.NewApp(env)
	} else {
		// Flags go before the APP argument (urfave/cli stops at the first argument).
		args = append([]string{"tagrelay-reconciler", args[0], "--config", f.config, "--kubeconfig", f.kubeconfig,
			"--namespace", f.sys, "--cache-dir", filepath.Join(f.dir, "cache")}, args[1:]...)
	}
	code = clirun.Run(ctx, env, app, args)
	if s := out.String() + errOut.String(); strings.Contains(s, gitToken) || strings.Contains(s, apiToken) {
		f.t.Errorf("%v leaks a token:\n%s", args, s)
	}
	return code, out.String(), errOut.String()
}

func (f *fixture) mustRun(want int, args ...string) (stdout, stderr string) {
	f.t.Helper()
	code, stdout, stderr := f.run(context.Background(), args...)
	f.t.Logf("%v: exit %d\n%s%s", args, code, stdout, stderr)
	if code != want {
		f.t.Fatalf("%v = exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, stdout, stderr)
	}
	return stdout, stderr
}

func TestSyncDiffHistory(t *testing.T) {
	f := newFixture(t)
	f.deploy("v1")
	out, _ := f.mustRun(0, "sync", "--expect-image", "example.com/web:v1", "web")
	if !strings.Contains(out, "web: Succeeded") || !strings.Contains(out, "web: (new) -> example.com/web:v1") {
		t.Errorf("sync output:\n%s", out)
	}
	_, stderr := f.mustRun(3, "sync", "web")
	if !strings.HasPrefix(stderr, "tagrelay-reconciler: no-op refused") || !strings.Contains(stderr, "--allow-noop") {
		t.Errorf("no-op refusal stderr = %q", stderr)
	}
	f.deploy("v2")
	out, _ = f.mustRun(0, "diff", "web")
	if !strings.Contains(out, "-        image: example.com/web:v1") && !strings.Contains(out, "image: example.com/web:v2") {
		t.Errorf("diff output does not show the image change:\n%s", out)
	}
	out, _ = f.mustRun(0, "history", "web")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "NoopRefused") || !strings.Contains(lines[2], "Succeeded") {
		t.Errorf("history (header + 2 entries, newest first):\n%s", out)
	}

	// Rollback returns to the commit of the previous successful sync.
	f.mustRun(0, "sync", "web")
	out, _ = f.mustRun(0, "rollback", "web")
	if !strings.Contains(out, "web: example.com/web:v2 -> example.com/web:v1") {
		t.Errorf("rollback output:\n%s", out)
	}
	_, stderr = f.mustRun(3, "rollback", "--to", "1", "web")
	if !strings.Contains(stderr, "no-op refused") {
		t.Errorf("rollback to the running commit: %s", stderr)
	}

	// Invalid inputs: exit 2, one line naming the problem.
	bad := f.write("bad.yaml", "apps:\n- name: Web_1\n  repo: ''\n  namespace: x\n")
	code, _, stderr := f.run(context.Background(), "sync", "--config", bad, "web")
	if code != 2 || !strings.Contains(stderr, "name \"Web_1\"") || !strings.Contains(stderr, "repo is required") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("invalid config = exit %d, stderr %q", code, stderr)
	}
	_, stderr = f.mustRun(2, "sync", "nope")
	if !strings.Contains(stderr, `no app "nope"`) || !strings.Contains(stderr, "known apps: web") {
		t.Errorf("unknown app stderr = %q", stderr)
	}
}

// TestServeAndTrigger runs serve and drives it with `tagrelay trigger reconciler`, which exits
// with the sync's code.
func TestServeAndTrigger(t *testing.T) {
	f := newFixture(t)
	f.deploy("v1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan int, 1)
	go func() {
		code, _, stderr := f.run(ctx, "serve", "--listen", addr, "--token-file", f.tokenFile, "--interval", "-1s", "--leader-elect", "true")
		if code != 0 {
			t.Errorf("serve = exit %d: %s", code, stderr)
		}
		served <- code
	}()
	defer func() { cancel(); <-served }()
	waitReady(t, "http://"+addr+"/readyz")

	trigger := func(want int, extra ...string) string {
		t.Helper()
		args := append([]string{"tagrelay", "trigger", "reconciler", "--url", "http://" + addr, "--app", "web",
			"--token-file", f.tokenFile}, extra...)
		out, stderr := f.mustRun(want, args...)
		return out + stderr
	}
	if out := trigger(0, "--expect-image", "example.com/web:v1", "--wait"); !strings.Contains(out, "web: Succeeded") {
		t.Errorf("first trigger output:\n%s", out)
	}
	if out := trigger(3, "--expect-image", "example.com/web:v1", "--wait"); !strings.Contains(out, "already running") {
		t.Errorf("same-image trigger output:\n%s", out)
	}
	if out := trigger(3, "--expect-image", "example.com/web:v9"); !strings.Contains(out, "is not deployed: the rendered state has example.com/web:v1") {
		t.Errorf("missing-image trigger output:\n%s", out)
	}
	trigger(0, "--allow-noop", "--wait")

	// Rollback and unpin through the API: exit 0, 3 when nothing would change or nothing is pinned.
	f.deploy("v2")
	trigger(0, "--expect-image", "example.com/web:v2", "--wait")
	if out := trigger(0, "--rollback", "--wait"); !strings.Contains(out, "web: example.com/web:v2 -> example.com/web:v1") {
		t.Errorf("rollback output:\n%s", out)
	}
	if out := trigger(3, "--rollback=1", "--wait"); !strings.Contains(out, "no-op refused") {
		t.Errorf("rollback to what runs:\n%s", out)
	}
	if out := trigger(0, "--unpin"); !strings.Contains(out, "unpinned (unpin by admin)") {
		t.Errorf("unpin output:\n%s", out)
	}
	if out := trigger(3, "--unpin"); !strings.Contains(out, "not pinned") {
		t.Errorf("second unpin:\n%s", out)
	}
	wrong := f.write("wrong-token", "nope-nope-nope")
	out, stderr := f.mustRun(1, "tagrelay", "trigger", "reconciler", "--url", "http://"+addr, "--app", "web", "--token-file", wrong)
	if !strings.Contains(out+stderr, "401") {
		t.Errorf("wrong token: %s%s", out, stderr)
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}
