package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/browsertest"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

var screenshots = flag.String("screenshots", "", "write a PNG of each console page into this directory (go test ./reconcile/console -run TestConsoleInBrowser -screenshots ../../docs)")

const (
	adminToken = "admin-0b9c3e1f5d7a2468"
	alphaToken = "alpha-1c2d3e4f5a6b7c8d"
	betaToken  = "beta-9f8e7d6c5b4a3210"
	webSHA     = "3f2a1c9"
	webSHA2    = "8d41e07"
	// xss is what a hostile repository or workload puts in the text the console shows.
	xss = `<script>window.__xss=1</script><img src=x onerror="window.__xss=1">`
)

// world is the test's platform: two projects' apps served by the real tagrelay-reconciler
// server (reconcile.Server: its API, its console, its drift check) over the real test cluster,
// and a git server with their infra repository. The server can be restarted (a new Reconciler
// and Server over the same cluster state, the same URL and session key: what a new pod does).
type world struct {
	t           *testing.T
	cluster     *kubetest.Cluster
	cs          kubernetes.Interface
	git         *gittest.Server
	alpha, beta string // the apps' namespaces
	stateNS     string // the reconciler's own (history, pins)
	cfg         *reconcile.Config
	url         string
	browser     *browsertest.Browser

	r       *reconcile.Reconciler
	server  *reconcile.Server
	handler atomic.Pointer[http.Handler]
	stop    func()
}

func brokenYAML(name string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: %[1]s, image: "registry.example.com/alpha/%[1]s:broken"}]}
`, name)
}

const webExtras = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {LOG_LEVEL: info}
`

// sessionKey is the console's session key, the same across a restart (deploy/ mounts it from a
// Secret).
var sessionKey = []byte("console-test-session-key-32bytes!")

func newWorld(t *testing.T) *world {
	t.Helper()
	c := kubetest.Shared(t)
	w := &world{t: t, cluster: c, cs: kubernetes.NewForConfigOrDie(c.RESTConfig()), git: gittest.New(t)}
	w.alpha, w.beta, w.stateNS = kubetest.Namespace(t, c), kubetest.Namespace(t, c), kubetest.Namespace(t, c)
	w.git.MustCreateRepo(t, "infra")
	w.git.MustCommit(t, "infra", "main", "alpha and beta apps", map[string]string{
		"apps/web/deploy.yaml":    kubetest.DeploymentYAML("web", "registry.example.com/alpha/web:"+webSHA, 2),
		"apps/web/extras.yaml":    webExtras,
		"apps/broken/deploy.yaml": brokenYAML("worker"),
		"apps/bad/bad.yaml":       "apiVersion: v1\nkind: '" + xss + "'\nmetadata: {name: bad}\n",
		"apps/api/deploy.yaml":    kubetest.DeploymentYAML("api", "registry.example.com/beta/api:v2.1.0", 1),
	})
	app := func(name, path, ns, sourceRepo string) reconcile.App {
		return reconcile.App{Name: name, Repo: w.git.RepoURL("infra"), Path: path, Namespace: ns, SharedNamespace: ns == w.alpha,
			Timeout: reconcile.Duration(time.Minute), SourceRepo: sourceRepo}
	}
	w.cfg = &reconcile.Config{Apps: []reconcile.App{
		app("web", "apps/web", w.alpha, "https://gitlab.example.com/alpha/web"),
		app("worker", "apps/broken", w.alpha, ""),
		app("bad", "apps/bad", w.alpha, ""),
		app("api", "apps/api", w.beta, "https://github.com/beta/api"),
	}, Projects: reconcile.Projects{
		{Name: "alpha", Namespaces: []string{w.alpha}, Token: alphaToken},
		{Name: "beta", Namespaces: []string{w.beta}, Token: betaToken},
	}}
	if err := w.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { (*w.handler.Load()).ServeHTTP(rw, r) }))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	w.start()
	t.Cleanup(func() { w.stop() })
	// the first deploys, through the API as a pipeline would (polling is off in this test)
	for _, name := range []string{"web", "api", "worker", "bad"} {
		code, res := w.api(t, "POST", "/api/v1/apps/"+name+"/sync", `{"wait": true}`)
		if wantOK := name == "web" || name == "api"; (code == http.StatusOK && res.Status == api.StatusSucceeded) != wantOK {
			t.Fatalf("first sync of %s = %d %s %s", name, code, res.Status, res.Message)
		}
	}
	w.browser = browsertest.New(t)
	return w
}

// start runs a new reconciler and server over the cluster's state and serves it at w.url.
func (w *world) start() {
	t := w.t
	r, err := reconcile.New(w.cluster.RESTConfig(), reconcile.Options{Namespace: w.stateNS, CacheDir: t.TempDir(),
		PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := reconcile.NewServer(r, w.cfg, reconcile.ServerOptions{Token: adminToken, Interval: -1,
		Console: reconcile.ConsoleOptions{SessionKey: sessionKey, DriftInterval: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	w.handler.Store(&h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	w.r, w.server = r, s
	w.stop = func() {
		cancel()
		<-done
	}
	deadline := time.Now().Add(waitFor)
	for !s.Status().Ready {
		if time.Now().After(deadline) {
			t.Fatal("the server did not get ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart stops the server (it drains) and starts a new one, as a new pod would.
func (w *world) restart() {
	w.stop()
	w.start()
}

// api calls the server's JSON API with the admin token.
func (w *world) api(t *testing.T, method, path, body string) (int, api.SyncResult) {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res api.SyncResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

// login opens a tab in a fresh browser context and logs in through the form.
func (w *world) login(t *testing.T, token string) *browsertest.Tab {
	t.Helper()
	tab := w.browser.Tab(t)
	browsertest.Do(t, tab,
		chromedp.Navigate(w.url+"/apps/web"), // any page sends to the login form first
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("form.card button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".who")),
	)
	return tab
}

func (w *world) shot(t *testing.T, tab *browsertest.Tab, name string) {
	t.Helper()
	if *screenshots != "" {
		browsertest.Screenshot(t, tab, filepath.Join(*screenshots, name))
	}
}

// confirm clicks the open dialog's confirm button and waits for the page the action redirects
// to, with its outcome (the flash).
func confirm(t *testing.T, tab *browsertest.Tab) string {
	t.Helper()
	browsertest.Do(t, tab, chromedp.Evaluate[chromedp.Void](`document.querySelector(".flash")?.remove()`),
		chromedp.Click(chromedp.CSS("dialog #confirm")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	return text(t, tab, ".flash")
}

// openDialog clicks the action link css and waits for its dialog. The live updates may replace
// the header under the click: it is tried again then.
func openDialog(t *testing.T, tab *browsertest.Tab, css string) {
	t.Helper()
	var err error
	for range 5 {
		if err = browsertest.RunErr(tab, chromedp.Click(chromedp.CSS(css)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm"))); err == nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("opening the dialog of %s: %v", css, err)
}

// text returns the text of the first element matching css ("" when there is none).
func text(t *testing.T, tab *browsertest.Tab, css string) string {
	t.Helper()
	return browsertest.Run(t, tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, css)))
}

// waitText waits until the element matching css contains want.
func waitText(t *testing.T, tab *browsertest.Tab, css, want string) {
	t.Helper()
	waitTextFor(t, tab, css, want, waitFor)
}

// waitTextFor waits until the element matching css contains want.
func waitTextFor(t *testing.T, tab *browsertest.Tab, css, want string, d time.Duration) {
	t.Helper()
	expr := fmt.Sprintf(`((document.querySelector(%q)||{}).textContent||"").includes(%q)`, css, want)
	if err := browsertest.RunErrWithin(tab, d+5*time.Second, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d))); err != nil {
		t.Fatalf("waiting for %q in %s: %v (it says %q)", want, css, err, text(t, tab, css))
	}
}

// TestConsoleInBrowser drives the console in chromium against the real reconciler over the
// real test cluster.
func TestConsoleInBrowser(t *testing.T) {
	w := newWorld(t)

	t.Run("login page", func(t *testing.T) {
		tab := w.browser.Tab(t)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
		w.shot(t, tab, "console-login.png")
		browsertest.Do(t, tab, chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token"),
			chromedp.Click(chromedp.CSS("form.card button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".callout.error")))
		if got := text(t, tab, ".callout.error"); !strings.Contains(got, "not valid") {
			t.Errorf("wrong token: message %q", got)
		}
	})

	t.Run("nothing readable without a login but healthz and readyz", func(t *testing.T) {
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, path := range []string{"/", "/apps/web", "/apps/web/diff", "/apps/web/history", "/apps/web/events",
			"/apps/web/logs", "/apps/web/sync", "/apps/api?fragment=1", "/stream", "/api/v1/apps", "/api/v1/apps/web/history", "/api/v1/server"} {
			resp, err := client.Get(w.url + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if !(resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login")) ||
				strings.Contains(string(body), webSHA) || strings.Contains(string(body), w.alpha) {
				t.Errorf("GET %s without a login: %d %q, want 401 or the login form, and nothing of the apps", path, resp.StatusCode, loc)
			}
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if resp, err := client.Get(w.url + path); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %v %v, want 200", path, resp, err)
			}
		}
		before := w.syncs(t, "web")
		resp, err := client.PostForm(w.url+"/apps/web/sync", url.Values{"csrf": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden || w.syncs(t, "web") != before {
			t.Errorf("POST a sync without a login: %d, want 401/403 and nothing run", resp.StatusCode)
		}
		// /metrics on the API's listener wants the admin token (serve mounts it so)
		rec := httptest.NewRecorder()
		w.server.AdminOnly(w.server.MetricsHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("/metrics without a token: %d, want 401", rec.Code)
		}
	})

	t.Run("overview lists both projects with their running tags", func(t *testing.T) {
		tab := w.login(t, adminToken)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/"), chromedp.WaitVisible(chromedp.CSS("#apps")))
		groups := browsertest.Run(t, tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#apps tbody")].map(b => b.dataset.project)`))
		if !slices.Equal(groups, []string{"alpha", "beta"}) {
			t.Errorf("project groups = %q, want alpha, beta", groups)
		}
		web := text(t, tab, "#app-web .images")
		if !strings.Contains(web, "web:"+webSHA) || !strings.Contains(web, "2/2") {
			t.Errorf("web's running images %q, want web:%s on 2/2 pods", web, webSHA)
		}
		link := browsertest.Run(t, tab, chromedp.Evaluate[string](`document.querySelector("#app-web a.tag").href`))
		if link != "https://gitlab.example.com/alpha/web/-/commit/"+webSHA {
			t.Errorf("web's tag links to %q, want its commit", link)
		}
		if api := text(t, tab, "#app-api .images"); !strings.Contains(api, "api:v2.1.0") {
			t.Errorf("api's running images %q, want api:v2.1.0", api)
		}
		if n := browsertest.Count(t, tab, "#app-api a.tag"); n != 0 {
			t.Errorf("api's tag v2.1.0 is not a commit, yet it is linked")
		}
		if got := text(t, tab, "#app-worker"); !strings.Contains(got, "Degraded") || !strings.Contains(got, "Failed") {
			t.Errorf("worker's row %q, want Degraded and its failed sync", got)
		}
		w.shot(t, tab, "console-overview.png")
		// the status filter keeps the degraded apps only
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`.filters a.st-degraded`)), chromedp.WaitVisible(chromedp.CSS(`.filters a.st-degraded.active`)))
		if n := browsertest.Count(t, tab, "tr.app"); n != 1 {
			t.Errorf("filtered by Degraded: %d rows, want 1 (worker)", n)
		}
	})

	t.Run("a project sees and acts on its apps only", func(t *testing.T) {
		tab := w.login(t, alphaToken)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/"), chromedp.WaitVisible(chromedp.CSS("#apps")))
		if n := browsertest.Count(t, tab, "#app-api"); n != 0 || browsertest.Count(t, tab, "#app-web") != 1 {
			t.Errorf("alpha's overview shows beta's api (%d) or misses web", n)
		}
		for _, path := range []string{"/apps/api", "/apps/api/logs", "/apps/api/sync"} {
			browsertest.Do(t, tab, chromedp.Navigate(w.url+path), chromedp.WaitVisible(chromedp.CSS(".error-page")))
			if got := text(t, tab, ".error-page h1"); !strings.HasPrefix(got, "404") {
				t.Errorf("alpha opens %s: %q, want 404", path, got)
			}
		}
		// a POST with alpha's valid CSRF token, straight to beta's app
		gen := w.generation(t, w.beta, "api")
		status := browsertest.Run(t, tab, chromedp.Evaluate[int](`fetch("/apps/api/sync", {method: "POST",
			body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value}), redirect: "manual"}).then(r => r.status)`,
			chromedp.EvalAwaitPromise))
		if status != http.StatusNotFound || w.generation(t, w.beta, "api") != gen || w.syncs(t, "api") != 1 {
			t.Errorf("alpha POSTs a sync of beta's app: %d, want 404 and nothing run", status)
		}
	})

	t.Run("a POST without the CSRF token is refused", func(t *testing.T) {
		tab := w.login(t, adminToken)
		// another origin's page (another port) posts a form to the console: the browser sends
		// the session cookie (same site: ports do not count), but the form cannot know the token
		evil := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(rw, `<!doctype html><form method=post action="%s/apps/web/restart"><input name=allowNoop value=1><button id=go>win a prize</button></form>`, w.url)
		}))
		defer evil.Close()
		before := w.syncs(t, "web")
		browsertest.Do(t, tab, chromedp.Navigate(evil.URL), chromedp.Click(chromedp.CSS("#go")), chromedp.WaitVisible(chromedp.CSS(".error-page")))
		if got := text(t, tab, ".error-page"); !strings.Contains(got, "403") || !strings.Contains(got, "CSRF") {
			t.Errorf("cross-site POST answered %q, want 403 naming the CSRF token", got)
		}
		// and the console's own page, with the token removed from its form
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/restart"), chromedp.WaitVisible(chromedp.CSS("form.confirm-form")),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("form.confirm-form input[name=csrf]").remove()`),
			chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS(".error-page")))
		if got := text(t, tab, ".error-page h1"); !strings.HasPrefix(got, "403") {
			t.Errorf("form without its CSRF token answered %q, want 403", got)
		}
		if after := w.syncs(t, "web"); after != before {
			t.Errorf("refused POSTs ran syncs: %d -> %d", before, after)
		}
	})

	t.Run("hostile text is shown as text", func(t *testing.T) {
		pod := w.pods(t, w.alpha, "web")[0]
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "hostile", Namespace: w.alpha},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: w.alpha, Name: pod, APIVersion: "v1"},
			Type:           "Warning", Reason: "Hostile", Message: "event " + xss, Source: corev1.EventSource{Component: "test"},
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1}
		if _, err := w.cs.CoreV1().Events(w.alpha).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tab := w.login(t, alphaToken)
		for _, page := range []struct{ path, css string }{
			{"/apps/web/events", "table.events"}, // the event's message
			{"/apps/bad", ".facts"},              // the failed sync's message quotes the repository's kind
			{"/apps/bad/history", "table.history"},
		} {
			browsertest.Do(t, tab, chromedp.Navigate(w.url+page.path), chromedp.WaitVisible(chromedp.CSS(page.css)))
			if got := text(t, tab, page.css); !strings.Contains(got, "<script>window.__xss=1</script>") {
				t.Errorf("%s does not show the hostile text as text: %q", page.path, got)
			}
			if ran := browsertest.Run(t, tab, chromedp.Evaluate[bool](`window.__xss === 1`)); ran {
				t.Fatalf("%s ran the hostile script", page.path)
			}
		}
		for _, m := range tab.Messages() {
			if strings.Contains(m, "Content Security Policy") {
				t.Errorf("a script reached the page and only the CSP stopped it: %s", m)
			}
		}
	})

	t.Run("tree shows the degraded pod with its event", func(t *testing.T) {
		tab := w.login(t, alphaToken)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/worker"), chromedp.WaitVisible(chromedp.CSS("svg.tree")))
		kinds := browsertest.Run(t, tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("svg.tree a.node")].map(n => n.dataset.id.split("/")[0] + ":" + n.dataset.health)`))
		if !slices.Contains(kinds, "Pod:Degraded") || !slices.Contains(kinds, "ReplicaSet:Progressing") && !slices.Contains(kinds, "ReplicaSet:Degraded") {
			t.Errorf("tree nodes %q, want the Deployment → ReplicaSet → Degraded pod", kinds)
		}
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`svg.tree a.node.h-degraded[data-id^="Pod/"]`)),
			chromedp.WaitVisible(chromedp.CSS(".panel .evlist")))
		if got := text(t, tab, ".panel"); !strings.Contains(got, "BackOff") || !strings.Contains(got, "Back-off restarting failed container") || !strings.Contains(got, "CrashLoop") {
			t.Errorf("the degraded pod's panel %q, want its crash loop and BackOff event", got)
		}
		w.shot(t, tab, "console-app-tree.png")
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/worker/events"), chromedp.WaitVisible(chromedp.CSS("table.events")))
		if got := text(t, tab, "table.events"); !strings.Contains(got, "BackOff") {
			t.Errorf("worker's events %q, want its BackOff", got)
		}
		w.shot(t, tab, "console-app-events.png")
	})

	t.Run("logs pane shows and follows log lines", func(t *testing.T) {
		tab := w.login(t, alphaToken)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/logs"), chromedp.WaitVisible(chromedp.CSS("#log")))
		waitText(t, tab, "#log", "listening on :8080")
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS("#follow")))
		waitText(t, tab, "#logstate", "following")
		// the tail again, then what the container writes next
		waitText(t, tab, "#log", "listening on :8080")
		line := "GET /healthz 200 " + w.alpha
		if err := w.cluster.AppendLog(line); err != nil {
			t.Fatal(err)
		}
		waitText(t, tab, "#log", line)
		w.shot(t, tab, "console-app-logs.png")
	})

	t.Run("bump, diff, sync, no-op, rollback, unpin", func(t *testing.T) {
		tab := w.login(t, alphaToken)
		gen := w.generation(t, w.alpha, "web")
		w.git.MustCommit(t, "infra", "main", "bump web", map[string]string{
			"apps/web/deploy.yaml": kubetest.DeploymentYAML("web", "registry.example.com/alpha/web:"+webSHA2, 2)})
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/history"), chromedp.WaitVisible(chromedp.CSS("table.history")))
		// the server's periodic drift check (a dry run, nothing applied) finds the bump; the
		// open page learns it from its stream, and the metric says it
		waitText(t, tab, "#app-header", "OutOfSync")
		if g := w.generation(t, w.alpha, "web"); g != gen {
			t.Errorf("the drift check changed the Deployment (generation %d -> %d)", gen, g)
		}
		if got := w.metric(t, `tagrelay_reconciler_out_of_sync{app="web"}`); got != "1" {
			t.Errorf("tagrelay_reconciler_out_of_sync{app=\"web\"} = %q, want 1", got)
		}

		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/diff"), chromedp.WaitVisible(chromedp.CSS(".preview")))
		changed := browsertest.Run(t, tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("pre.diff .add, pre.diff .del")].map(l => l.textContent.trim())`))
		if want := []string{"- - image: registry.example.com/alpha/web:" + webSHA, "+ - image: registry.example.com/alpha/web:" + webSHA2}; !slices.Equal(trimAll(changed), want) {
			t.Errorf("diff lines %q, want only the tag line", changed)
		}
		w.shot(t, tab, "console-app-diff.png")

		// Sync: the dialog shows the dry run and the guard's verdict first
		openDialog(t, tab, `#app-header a[href$="/sync"]`)
		if got := text(t, tab, "dialog"); !strings.Contains(got, "a sync would roll new images") || !strings.Contains(got, webSHA2) {
			t.Errorf("sync dialog %q, want the guard's verdict and the new tag", got)
		}
		w.shot(t, tab, "console-sync-dialog.png")
		// the action answers once the new objects are applied; the page follows the rollout
		if got := confirm(t, tab); !strings.Contains(got, "Applied") && !strings.Contains(got, "Succeeded") || !strings.Contains(got, "→ registry.example.com/alpha/web:"+webSHA2) {
			t.Errorf("after Sync: %q, want Applied with the tag change", got)
		}
		waitTextFor(t, tab, "#app-header", "Synced", 2*waitFor) // the rollout's end, on a loaded machine
		if want := webPods(webSHA2); !slices.Equal(w.readyImages(t, w.alpha, "web", want...), want) {
			t.Errorf("after Sync: the ready pods do not run 2 on %s", webSHA2)
		}
		gen2 := w.generation(t, w.alpha, "web")
		if gen2 == gen {
			t.Errorf("Sync did not roll the Deployment (generation %d)", gen)
		}

		// Sync again: the guard refuses, nothing changes
		openDialog(t, tab, `#app-header a[href$="/sync"]`)
		if got := text(t, tab, "dialog"); !strings.Contains(got, "would be refused") {
			t.Errorf("second sync dialog %q, want the no-op guard's refusal", got)
		}
		if got := confirm(t, tab); !strings.Contains(got, "NoopRefused") {
			t.Errorf("after the second Sync: %q, want NoopRefused", got)
		}
		if g := w.generation(t, w.alpha, "web"); g != gen2 {
			t.Errorf("the refused sync changed the generation %d -> %d", gen2, g)
		}

		// Roll back to the first deploy (history: 1 refused, 2 the bump, 3 the first)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/history"), chromedp.WaitVisible(chromedp.CSS("table.history")))
		w.shot(t, tab, "console-app-history.png")
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`a[href$="rollback?to=3"]`)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm")))
		if got := text(t, tab, "dialog"); !strings.Contains(got, "pins") || !strings.Contains(got, webSHA) {
			t.Errorf("rollback dialog %q, want the target's image and the pin", got)
		}
		if got := confirm(t, tab); !strings.Contains(got, "Applied") && !strings.Contains(got, "Succeeded") {
			t.Errorf("after Rollback: %q, want Applied", got)
		}
		if want := webPods(webSHA); !slices.Equal(w.readyImages(t, w.alpha, "web", want...), want) {
			t.Errorf("after Rollback: the ready pods do not run 2 on %s", webSHA)
		}
		waitText(t, tab, "#app-header", "pinned")
		// a new server (a restarted pod) still has the pin: the page says pinned, the pods stay
		browsertest.Do(t, tab, chromedp.Navigate("about:blank")) // (the open page would reload itself when its stream ends)
		w.restart()
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web"), chromedp.WaitVisible(chromedp.CSS("#app-header")))
		waitText(t, tab, "#app-header", "pinned")
		if want := webPods(webSHA); !slices.Equal(w.readyImages(t, w.alpha, "web", want...), want) {
			t.Errorf("after the restart: the ready pods do not run 2 on %s", webSHA)
		}
		openDialog(t, tab, `#app-header a[href$="/unpin"]`)
		if got := confirm(t, tab); !strings.Contains(got, "Unpin: done") {
			t.Errorf("after Unpin: %q", got)
		}
		if got := text(t, tab, "#app-header .title"); strings.Contains(got, "pinned") {
			t.Errorf("after Unpin the header still says %q", got)
		}
	})

	t.Run("live updates: one stream per page, no polling", func(t *testing.T) {
		tab := w.login(t, adminToken)
		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/"), chromedp.WaitVisible(chromedp.CSS("#app-api")))
		waitText(t, tab, "#live", "live")
		requests := func() []string {
			return browsertest.Run(t, tab, chromedp.Evaluate[[]string](`performance.getEntriesByType("resource").map(e => e.name)`))
		}
		before := requests()
		// a sync the page did not start (a poll, another user): the row changes in place
		done := make(chan error, 1)
		go func() {
			code, res := w.api(t, "POST", "/api/v1/apps/api/sync", `{"restart": true, "wait": true}`)
			if code != http.StatusOK {
				done <- fmt.Errorf("restart of api through the API: %d %s", code, res.Message)
			}
			done <- nil
		}()
		waitText(t, tab, "#app-api", "Syncing")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		waitText(t, tab, "#app-api", "Synced")
		// no request since the page loaded: the stream is the only connection
		time.Sleep(2 * time.Second)
		if after := requests(); len(after) != len(before) {
			t.Errorf("the page made requests while open: %q", after[len(before):])
		}
		if n := w.server.Console().Streams(); n != 1 {
			t.Errorf("%d streams open for one open page, want 1", n)
		}
	})
}

// metric returns the value of one series on the server's /metrics ("" when absent).
func (w *world) metric(t *testing.T, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	w.server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return ""
}

// webPods is what web's two pods run once rolled to tag.
func webPods(tag string) []string {
	return []string{"registry.example.com/alpha/web:" + tag, "registry.example.com/alpha/web:" + tag}
}

// waitFor bounds the test's waits.
const waitFor = 60 * time.Second

func trimAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Join(strings.Fields(s), " ")
	}
	return out
}

func (w *world) generation(t *testing.T, ns, name string) int64 {
	t.Helper()
	d, err := w.cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

// syncs counts the app's recorded syncs.
func (w *world) syncs(t *testing.T, app string) int {
	t.Helper()
	h, err := w.r.History(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	return len(h)
}

func (w *world) pods(t *testing.T, ns, app string) []string {
	t.Helper()
	list, err := w.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("pods of %s: %v (%d)", app, err, len(list.Items))
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	return out
}

// readyImages waits until the app's pods are its ready ones only (the old ones gone) and
// returns their images.
func (w *world) readyImages(t *testing.T, ns, app string, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(2 * waitFor)
	var imgs []string
	for time.Now().Before(deadline) {
		list, err := w.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			t.Fatal(err)
		}
		imgs = imgs[:0]
		all := true
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil || !kubetest.PodReady(&p) {
				all = false
				continue
			}
			imgs = append(imgs, kubetest.Image(p.Spec))
		}
		slices.Sort(imgs)
		if all && (want == nil || slices.Equal(imgs, want)) { // mid-rollout, old and new pods are ready at once
			return imgs
		}
		time.Sleep(200 * time.Millisecond)
	}
	return imgs
}
