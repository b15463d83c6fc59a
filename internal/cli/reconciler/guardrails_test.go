package reconciler_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/internal/yamltest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// listener accepts connections and never answers, counting them: a git server that hangs, or
// a host a render must not reach.
func listener(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int64{}
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String(), conns
}

// TestGuardrailsInOneServer runs the built tagrelay-reconciler serve with one healthy app and
// apps that each try to take it down or out of its lane, all triggered at once: alias bombs in
// a Kustomize resource, a Kustomize patch, a plain manifest, a Helm values file and a Helm
// template's output; a chart that loops for minutes; an https resource on a host that is not
// allowed; a git server that accepts and never answers. Each fails alone with an error naming
// what and where, the healthy app deploys meanwhile, and the server's peak RSS (VmHWM of its
// /proc status) stays under 200 MB.
func TestGuardrailsInOneServer(t *testing.T) {
	c := kubetest.Shared(t)
	t.Parallel()
	good, bad, sys := kubetest.Namespace(t, c), kubetest.Namespace(t, c), kubetest.Namespace(t, c)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tagrelay-reconciler")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/tagrelay-reconciler").CombinedOutput(); err != nil {
		t.Fatalf("building tagrelay-reconciler: %v\n%s", err, out)
	}
	git := gittest.New(t, gittest.WithBasicAuth("ci", gitToken))
	git.MustCreateRepo(t, "infra")
	hang, hangConns := listener(t)
	evil, evilConns := listener(t)
	bombCM := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + yamltest.Laughs("  ", 5)
	chart := "apiVersion: v2\nname: c\nversion: 0.1.0\n"
	git.MustCommit(t, "infra", "main", "apps", map[string]string{
		"good/web.yaml": kubetest.DeploymentYAML("web", "example.com/web:v1", 1),
		"good/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n",

		"kresource/kustomization.yaml": "resources: [cm.yaml]\n", "kresource/cm.yaml": bombCM,
		"kpatch/kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: patch.yaml}]\n",
		"kpatch/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n", "kpatch/patch.yaml": bombCM,
		"plain/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n", "plain/bomb.yaml": bombCM,
		"hvalues/Chart.yaml": chart, "hvalues/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
		"hvalues/prod.yaml":  "big:\n" + yamltest.Laughs("  ", 5),
		"houtput/Chart.yaml": chart, "houtput/values.yaml": "n: 9\n",
		"houtput/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\nlaughs:\n  a0: &a0 [{{ range until (int .Values.n) }}x,{{ end }}x]\n" +
			strings.SplitN(yamltest.Laughs("  ", 5), "\n", 2)[1],
		"loop/Chart.yaml": chart, "loop/templates/loop.yaml": "{{ range $i := until 100000 }}{{ range $j := until 100000 }}{{ end }}{{ end }}",
		"remote/kustomization.yaml": "resources: [https://" + evil + "/evil.yaml]\n",
	})
	tokenFile := filepath.Join(dir, "git-token")
	if err := os.WriteFile(tokenFile, []byte(gitToken), 0o600); err != nil {
		t.Fatal(err)
	}
	var apps strings.Builder
	app := func(name, repo, path, ns, extra string) {
		fmt.Fprintf(&apps, "- {name: %s, repo: '%s', path: %s, namespace: %s, sharedNamespace: true, timeout: 1m, auth: {username: ci, tokenFile: %s}%s}\n",
			name, repo, path, ns, tokenFile, extra)
	}
	repo := git.RepoURL("infra")
	app("good", repo, "good", good, "")
	for _, name := range []string{"kresource", "kpatch", "plain", "houtput"} {
		app(name, repo, name, bad, "")
	}
	app("hvalues", repo, "hvalues", bad, ", valuesFiles: [prod.yaml]")
	app("loop", repo, "loop", bad, ", limits: {renderTimeout: 3s}")
	app("remote", repo, "remote", bad, "")
	app("stuck", "http://"+hang+"/infra.git", "", bad, ", limits: {gitTimeout: 3s}")
	config := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(config, []byte("apps:\n"+apps.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := reconcilertest.Start(context.Background(), reconcilertest.Options{Binary: bin, Config: config,
		Kubeconfig: c.Kubeconfig, Namespace: sys, Dir: filepath.Join(dir, "server")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Logs())
		}
		_ = srv.Stop()
	})

	want := map[string]struct {
		code int
		msg  string
	}{
		"good":      {0, ""},
		"kresource": {2, "YAML aliases refused: kresource/cm.yaml: its YAML aliases expand to more than 10000 nodes"},
		"kpatch":    {2, "YAML aliases refused: kpatch/patch.yaml"},
		"plain":     {2, "YAML aliases refused: plain/bomb.yaml"},
		"hvalues":   {2, "YAML aliases refused: hvalues/prod.yaml"},
		"houtput":   {2, "YAML aliases refused: houtput/templates/cm.yaml"},
		"loop":      {2, "render timed out: still rendering after 3s"},
		"remote":    {4, "remote reference refused: remote/kustomization.yaml: resources https://" + evil + "/evil.yaml: host " + evil + " is not in the app's allowedHosts"},
		"stuck":     {1, "git server did not answer after 3s"},
	}
	client := &api.Client{URL: srv.URL, Token: srv.Token}
	var wg sync.WaitGroup
	start := time.Now()
	for name, w := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Sync(context.Background(), name, api.SyncRequest{AllowNoop: true, Wait: true})
			if err != nil {
				t.Errorf("Sync(%s) = %v", name, err)
				return
			}
			t.Logf("%-9s exit %d after %s: %s", name, res.ExitCode, time.Duration(res.Duration).Round(time.Millisecond), res.Message)
			if res.ExitCode != w.code || !strings.Contains(res.Message, w.msg) {
				t.Errorf("%s: exit %d %q, want exit %d with %q", name, res.ExitCode, res.Message, w.code, w.msg)
			}
		}()
	}
	wg.Wait()
	t.Logf("all %d syncs answered in %s", len(want), time.Since(start).Round(time.Millisecond))
	if n := evilConns.Load(); n != 0 {
		t.Errorf("the host that is not allowed saw %d connections, want none", n)
	}
	if hangConns.Load() == 0 {
		t.Errorf("the hanging git server saw no connection: the stuck app did not try it")
	}
	hwm, rss := procStatus(t, srv.Pid(), "VmHWM"), procStatus(t, srv.Pid(), "VmRSS")
	t.Logf("tagrelay-reconciler serve: peak RSS (VmHWM) %d MB, RSS now %d MB", hwm>>20, rss>>20)
	if hwm >= 200<<20 {
		t.Errorf("peak RSS %d MB, want under 200 MB", hwm>>20)
	}
}

// procStatus reads a "kB" field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
