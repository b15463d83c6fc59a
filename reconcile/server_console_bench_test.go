package reconcile_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// BenchmarkServerConsoleOverview1000 serves the console's overview of 1,000 apps (20 projects,
// two workloads of three and two pods each, commit tags) through the mounted server: its
// Handler, the session check, Server.Apps (scoping, the view of each app, filters, counts) and
// the page, over HTTP. The rows come from the console's cache after the first page (no app
// changes here); the cost of rendering every row is BenchmarkOverview1000/cold in
// reconcile/console. The apps' trees are set as the drift check records them: no
// cluster is read while a page is served.
func BenchmarkServerConsoleOverview1000(b *testing.B) {
	const n = 1000
	cfg := &reconcile.Config{}
	for i := range n {
		ns := fmt.Sprintf("team-%02d", i/50)
		cfg.Apps = append(cfg.Apps, reconcile.App{Name: fmt.Sprintf("app-%04d", i), Repo: "https://git.example.com/platform/" + ns + ".git",
			Revision: "main", Path: fmt.Sprintf("apps/app-%04d", i), Namespace: ns, SharedNamespace: true,
			SourceRepo: "https://gitlab.example.com/" + ns + "/app"})
		if i%50 == 0 {
			cfg.Projects = append(cfg.Projects, reconcile.Project{Name: ns, Namespaces: []string{ns}, Token: ns + "-token-0123456789"})
		}
	}
	// the reconciler is never asked for anything here: its API server address is unreachable
	r, err := reconcile.New(&rest.Config{Host: "http://127.0.0.1:1"}, reconcile.Options{CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	s, err := reconcile.NewServer(r, cfg, reconcile.ServerOptions{Token: "admin-token-0123456789", Interval: -1,
		Console: reconcile.ConsoleOptions{DriftInterval: -1}})
	if err != nil {
		b.Fatal(err)
	}
	for i, a := range cfg.Apps {
		sha := fmt.Sprintf("%07x", i*7919)
		t := &api.Tree{App: a.Name}
		for _, w := range []struct {
			name, container, image string
			pods                   int
		}{{a.Name, "app", "registry.example.com/" + a.Namespace + "/" + a.Name + ":" + sha, 3}, {a.Name + "-worker", "worker", "registry.example.com/" + a.Namespace + "/worker:v1.4.2", 2}} {
			dep := "Deployment/" + a.Namespace + "/" + w.name
			t.Nodes = append(t.Nodes, api.TreeNode{ID: dep, Group: "apps", Kind: "Deployment", Namespace: a.Namespace, Name: w.name, Health: api.HealthHealthy})
			for p := range w.pods {
				name := fmt.Sprintf("%s-6d4cf56db6-%d", w.name, p)
				t.Nodes = append(t.Nodes, api.TreeNode{ID: "Pod/" + a.Namespace + "/" + name, Parent: dep, Kind: "Pod", Namespace: a.Namespace,
					Name: name, Health: api.HealthHealthy, Images: []string{w.image}, Containers: []string{w.container}})
			}
		}
		reconcile.SetTree(s, a.Name, t)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	body := func(resp *http.Response, err error) string {
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return string(out)
	}
	m := csrfField.FindStringSubmatch(body(cl.Get(hs.URL + "/login")))
	if m == nil {
		b.Fatal("no login form")
	}
	body(cl.PostForm(hs.URL+"/login", url.Values{"csrf": {m[1]}, "token": {"admin-token-0123456789"}, "next": {"/"}}))
	get := func(b *testing.B) {
		var size int
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			resp, err := cl.Get(hs.URL + "/")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("GET / = %d", resp.StatusCode)
			}
			size = int(n)
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		b.ReportMetric(float64(size)/1024, "KiB/page")
	}
	get(b)
}

// cpuTime is the CPU time (user and system) the process used so far: on a shared machine the
// wall time of ns/op includes the time other processes had the CPU.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
