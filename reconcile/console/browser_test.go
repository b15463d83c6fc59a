package console_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/tagrelay/tagrelay/reconcile/console"
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

// world is the test's platform: two projects' apps deployed by the real reconciler into the
// real test cluster, a git server with their infra repository, and the console over them.
type world struct {
	t           *testing.T
	cluster     *kubetest.Cluster
	cs          kubernetes.Interface
	git         *gittest.Server
	alpha, beta string // namespaces
	backend     *clusterBackend
	console     *console.Console
	url         string
	browser     *browsertest.Browser
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

func newWorld(t *testing.T) *world {
	t.Helper()
	c := kubetest.Shared(t)
	w := &world{t: t, cluster: c, cs: kubernetes.NewForConfigOrDie(c.RESTConfig()), git: gittest.New(t)}
	w.alpha, w.beta = kubetest.Namespace(t, c), kubetest.Namespace(t, c)
	r, err := reconcile.New(c.RESTConfig(), reconcile.Options{Namespace: kubetest.Namespace(t, c), CacheDir: t.TempDir(),
		PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.git.MustCreateRepo(t, "infra")
	w.git.MustCommit(t, "infra", "main", "alpha and beta apps", map[string]string{
		"apps/web/deploy.yaml":    kubetest.DeploymentYAML("web", "registry.example.com/alpha/web:"+webSHA, 2),
		"apps/web/extras.yaml":    webExtras,
		"apps/broken/deploy.yaml": brokenYAML("worker"),
		"apps/bad/bad.yaml":       "apiVersion: v1\nkind: '" + xss + "'\nmetadata: {name: bad}\n",
		"apps/api/deploy.yaml":    kubetest.DeploymentYAML("api", "registry.example.com/beta/api:v2.1.0", 1),
	})
	w.backend = newClusterBackend(r, map[string]api.Principal{
		adminToken: {Name: "admin", Admin: true},
		alphaToken: {Name: "alpha-deployer", Project: "alpha"},
		betaToken:  {Name: "beta-deployer", Project: "beta"},
	})
	app := func(name, path, ns string) reconcile.App {
		a := reconcile.App{Name: name, Repo: w.git.RepoURL("infra"), Path: path, Namespace: ns, Timeout: reconcile.Duration(time.Minute)}
		cfg := reconcile.Config{Apps: []reconcile.App{a}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg.Apps[0]
	}
	w.backend.add(app("web", "apps/web", w.alpha), "alpha", "https://gitlab.example.com/alpha/web")
	w.backend.add(app("worker", "apps/broken", w.alpha), "alpha", "")
	w.backend.add(app("bad", "apps/bad", w.alpha), "alpha", "")
	w.backend.add(app("api", "apps/api", w.beta), "beta", "https://github.com/beta/api")
	ctx := context.Background()
	admin := api.Principal{Name: "admin", Admin: true}
	for _, name := range []string{"web", "api", "worker", "bad"} {
		res, err := w.backend.Sync(ctx, admin, name, api.SyncRequest{})
		wantOK := name == "web" || name == "api"
		if (err == nil) != wantOK {
			t.Fatalf("initial sync of %s = %s %v", name, res.Status, err)
		}
	}
	w.console, err = console.New(w.backend, console.Options{SessionKey: []byte("console-test-session-key-32bytes!")})
	if err != nil {
		t.Fatal(err)
	}
	w.backend.publish = w.console.Publish
	srv := httptest.NewServer(w.console.Handler())
	t.Cleanup(srv.Close)
	w.url = srv.URL
	w.browser = browsertest.New(t)
	return w
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

// text returns the text of the first element matching css ("" when there is none).
func text(t *testing.T, tab *browsertest.Tab, css string) string {
	t.Helper()
	return browsertest.Run(t, tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, css)))
}

// waitText waits until the element matching css contains want.
func waitText(t *testing.T, tab *browsertest.Tab, css, want string) {
	t.Helper()
	expr := fmt.Sprintf(`((document.querySelector(%q)||{}).textContent||"").includes(%q)`, css, want)
	if err := browsertest.RunErr(tab, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitFor))); err != nil {
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
		// the server's drift check finds the bump; the open page learns it from its stream
		if err := w.backend.checkDrift(context.Background(), "web"); err != nil {
			t.Fatal(err)
		}
		waitText(t, tab, "#app-header", "OutOfSync")

		browsertest.Do(t, tab, chromedp.Navigate(w.url+"/apps/web/diff"), chromedp.WaitVisible(chromedp.CSS(".preview")))
		changed := browsertest.Run(t, tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("pre.diff .add, pre.diff .del")].map(l => l.textContent.trim())`))
		if want := []string{"- - image: registry.example.com/alpha/web:" + webSHA, "+ - image: registry.example.com/alpha/web:" + webSHA2}; !slices.Equal(trimAll(changed), want) {
			t.Errorf("diff lines %q, want only the tag line", changed)
		}
		w.shot(t, tab, "console-app-diff.png")

		// Sync: the dialog shows the dry run and the guard's verdict first
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`#app-header a[href$="/sync"]`)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm")))
		if got := text(t, tab, "dialog"); !strings.Contains(got, "a sync would roll new images") || !strings.Contains(got, webSHA2) {
			t.Errorf("sync dialog %q, want the guard's verdict and the new tag", got)
		}
		w.shot(t, tab, "console-sync-dialog.png")
		if got := confirm(t, tab); !strings.Contains(got, "Succeeded") {
			t.Errorf("after Sync: %q, want Succeeded", got)
		}
		if imgs := w.readyImages(t, w.alpha, "web"); !slices.Equal(imgs, []string{"registry.example.com/alpha/web:" + webSHA2, "registry.example.com/alpha/web:" + webSHA2}) {
			t.Errorf("after Sync: ready pods run %q, want 2 on %s", imgs, webSHA2)
		}
		gen2 := w.generation(t, w.alpha, "web")
		if gen2 == gen {
			t.Errorf("Sync did not roll the Deployment (generation %d)", gen)
		}

		// Sync again: the guard refuses, nothing changes
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`#app-header a[href$="/sync"]`)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm")))
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
		if got := confirm(t, tab); !strings.Contains(got, "Succeeded") {
			t.Errorf("after Rollback: %q, want Succeeded", got)
		}
		if imgs := w.readyImages(t, w.alpha, "web"); !slices.Equal(imgs, []string{"registry.example.com/alpha/web:" + webSHA, "registry.example.com/alpha/web:" + webSHA}) {
			t.Errorf("after Rollback: ready pods run %q, want 2 on %s", imgs, webSHA)
		}
		waitText(t, tab, "#app-header", "pinned")
		browsertest.Do(t, tab, chromedp.Click(chromedp.CSS(`#app-header a[href$="/unpin"]`)), chromedp.WaitVisible(chromedp.CSS("dialog #confirm")))
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
			_, err := w.backend.Sync(context.Background(), api.Principal{Name: "poll", Admin: true}, "api", api.SyncRequest{Restart: true})
			done <- err
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
		if n := w.console.Streams(); n != 1 {
			t.Errorf("%d streams open for one open page, want 1", n)
		}
	})
}

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
	h, err := w.backend.r.History(context.Background(), app)
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
func (w *world) readyImages(t *testing.T, ns, app string) []string {
	t.Helper()
	deadline := time.Now().Add(waitFor)
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
		if all {
			slices.Sort(imgs)
			return imgs
		}
		time.Sleep(200 * time.Millisecond)
	}
	return imgs
}
