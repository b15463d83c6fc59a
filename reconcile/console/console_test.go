package console

import (
	"bufio"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/browsertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

const (
	adminToken = "admin-token-0123456789"
	alphaToken = "alpha-token-0123456789"
	betaToken  = "beta-token-0123456789"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testBackend() *memBackend {
	apps := []api.AppState{
		{AppStatus: api.AppStatus{Name: "web", Repo: "https://git/infra.git", Ref: "main"}, Project: "alpha", Namespace: "alpha",
			Health: api.HealthHealthy, Sync: api.SyncSynced,
			Running: []api.RunningImage{{Object: "Deployment/alpha/web", Container: "web", Image: "reg/web:3f2a1c9", Pods: 2, Ready: 2}}},
		{AppStatus: api.AppStatus{Name: "api", Repo: "https://git/infra.git", Ref: "main"}, Project: "beta", Namespace: "beta",
			Health: api.HealthHealthy, Sync: api.SyncSynced},
	}
	return &memBackend{apps: apps, tokens: map[string]api.Principal{
		adminToken: {Name: "admin", Admin: true},
		alphaToken: {Name: "alpha-ci", Project: "alpha"},
		betaToken:  {Name: "beta-ci", Project: "beta"},
	}, trees: map[string]*api.Tree{}, events: map[string][]api.Event{}, hist: map[string][]api.SyncResult{}}
}

func serve(t *testing.T, b Backend, tls bool) (*Console, *httptest.Server) {
	t.Helper()
	c, err := New(b, Options{SessionKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(c.Handler())
	} else {
		srv = httptest.NewServer(c.Handler())
	}
	t.Cleanup(srv.Close)
	return c, srv
}

// client is a browser-like client: a cookie jar, no redirects followed.
func client(srv *httptest.Server) *http.Client {
	jar, _ := cookiejar.New(nil)
	cl := *srv.Client() // a copy: srv.Client() is one client for every caller
	cl.Jar = jar
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func get(t *testing.T, cl *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, cl *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := cl.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login logs cl in with token and returns the session's CSRF token.
func login(t *testing.T, cl *http.Client, srv *httptest.Server, token string) string {
	t.Helper()
	_, body := get(t, cl, srv.URL+"/login")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("login form without CSRF token:\n%s", body)
	}
	resp, body := post(t, cl, srv.URL+"/login", url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d, want 303:\n%s", resp.StatusCode, body)
	}
	_, body = get(t, cl, srv.URL+"/")
	m = csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("overview without a CSRF token (logged in?):\n%s", body)
	}
	return m[1]
}

// TestNothingReadableWithoutLogin: every page, fragment, stream and action needs a session; a
// forged or expired session is no session.
func TestNothingReadableWithoutLogin(t *testing.T) {
	c, srv := serve(t, testBackend(), false)
	cl := client(srv)
	for _, path := range []string{"/", "/apps/web", "/apps/web/diff", "/apps/web/history", "/apps/web/events", "/apps/web/logs", "/apps/web/sync"} {
		resp, body := get(t, cl, srv.URL+path)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") || strings.Contains(body, "3f2a1c9") {
			t.Errorf("GET %s without session = %d %q, want a redirect to /login and no content", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/stream", "/apps/web/stream", "/apps/web?fragment=tree"} {
		if resp, _ := get(t, cl, srv.URL+path); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without session = %d, want 401", path, resp.StatusCode)
		}
	}
	if resp, _ := post(t, cl, srv.URL+"/apps/web/sync", url.Values{"csrf": {"x"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST sync without session = %d, want 401", resp.StatusCode)
	}

	// a session signed with another key, and an expired one, are refused
	other, _ := New(testBackend(), Options{SessionKey: []byte("another key of thirty-two bytes!")})
	forged := other.sign([]byte(`{"p":{"name":"admin","admin":true},"e":99999999999,"n":"x"}`))
	expired := c.sign([]byte(`{"p":{"name":"admin","admin":true},"e":1,"n":"x"}`))
	for name, v := range map[string]string{"forged": forged, "expired": expired, "garbage": "a.b"} {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET / with a %s session = %d, want the login redirect", name, resp.StatusCode)
		}
	}
	if got := b(t, srv, "/static/console.css"); !strings.Contains(got, "--accent") {
		t.Errorf("the stylesheet needs no session; got %.80q", got)
	}
}

func b(t *testing.T, srv *httptest.Server, path string) string {
	_, body := get(t, client(srv), srv.URL+path)
	return body
}

// TestLogin: the login form needs its CSRF token, a wrong token is refused without a session,
// and the session cookie is HttpOnly, SameSite=Strict and, under TLS, Secure.
func TestLogin(t *testing.T) {
	_, srv := serve(t, testBackend(), true)
	cl := client(srv)

	resp, body := post(t, cl, srv.URL+"/login", url.Values{"token": {adminToken}})
	if resp.StatusCode != http.StatusForbidden || hasSession(resp) || !strings.Contains(body, "expired") {
		t.Errorf("login without CSRF token = %d (session %v), want 403, a message and no session", resp.StatusCode, hasSession(resp))
	}
	_, body = get(t, cl, srv.URL+"/login")
	csrf := csrfField.FindStringSubmatch(body)[1]
	resp, body = post(t, cl, srv.URL+"/login", url.Values{"csrf": {csrf}, "token": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || hasSession(resp) || !strings.Contains(body, "not valid") {
		t.Errorf("login with a wrong token = %d (session %v), want 401, a message and no session", resp.StatusCode, hasSession(resp))
	}
	_, body = get(t, cl, srv.URL+"/login")
	csrf = csrfField.FindStringSubmatch(body)[1]
	resp, _ = post(t, cl, srv.URL+"/login", url.Values{"csrf": {csrf}, "token": {alphaToken}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("login = %d to %q, want 303 to / (an off-site next is dropped)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || strings.Contains(ck.Value, alphaToken) {
		t.Fatalf("session cookie = %+v, want HttpOnly, Secure, SameSite=Strict, without the token", ck)
	}
	resp, body = get(t, cl, srv.URL+"/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alpha-ci") {
		t.Errorf("overview after login = %d, want 200 naming the principal", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return true
		}
	}
	return false
}

// TestActionNeedsCSRF: a POST without the session's CSRF token (or with another session's, or
// from another origin) is refused and nothing runs; with it, the action runs as the principal.
func TestActionNeedsCSRF(t *testing.T) {
	m := testBackend()
	_, srv := serve(t, m, false)
	cl := client(srv)
	csrf := login(t, cl, srv, alphaToken)
	other := login(t, client(srv), srv, alphaToken)

	for name, form := range map[string]url.Values{"no token": {}, "another session's token": {"csrf": {other}}} {
		resp, body := post(t, cl, srv.URL+"/apps/web/sync", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("POST sync with %s = %d, want 403 naming CSRF", name, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/apps/web/sync", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := cl.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST sync from another origin = %v %v, want 403", resp.StatusCode, err)
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Fatalf("refused POSTs ran %q", calls)
	}
	resp, _ := post(t, cl, srv.URL+"/apps/web/sync", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/web" {
		t.Errorf("POST sync = %d to %q, want 303 to the app", resp.StatusCode, resp.Header.Get("Location"))
	}
	post(t, cl, srv.URL+"/apps/web/rollback", url.Values{"csrf": {csrf}, "to": {"2"}})
	if want := []string{"sync web by alpha-ci", "rollback-2 web by alpha-ci"}; !cmp.Equal(m.Calls(), want) {
		t.Errorf("backend calls = %q, want %q", m.Calls(), want)
	}
	_, body := get(t, cl, srv.URL+"/apps/web")
	if !strings.Contains(body, `class="flash ok"`) || !strings.Contains(body, "Roll back: Succeeded") {
		t.Errorf("the app page after the action does not show its outcome")
	}
}

// TestProjectScoping: a project's member sees and reaches its apps only, even when the backend
// answers more (the console checks every app it gets); another project's app is a 404 like an
// app that does not exist.
func TestProjectScoping(t *testing.T) {
	m := testBackend()
	m.leak = true
	_, srv := serve(t, m, false)
	cl := client(srv)
	csrf := login(t, cl, srv, alphaToken)
	_, body := get(t, cl, srv.URL+"/")
	if !strings.Contains(body, `id="app-web"`) || strings.Contains(body, `id="app-api"`) {
		t.Errorf("alpha's overview: web shown %v, beta's api shown %v", strings.Contains(body, `id="app-web"`), strings.Contains(body, `id="app-api"`))
	}
	_, missing := get(t, cl, srv.URL+"/apps/nothing")
	for _, path := range []string{"/apps/api", "/apps/api/history", "/apps/api/logs", "/apps/api/sync", "/apps/api/stream"} {
		resp, body := get(t, cl, srv.URL+path)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "beta") {
			t.Errorf("alpha GET %s = %d, want 404 without a trace of beta", path, resp.StatusCode)
		}
		if path == "/apps/api" && strings.ReplaceAll(body, "api", "nothing") != missing {
			t.Errorf("another project's app and a missing app answer differently")
		}
	}
	if resp, _ := post(t, cl, srv.URL+"/apps/api/sync", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("alpha POST sync of beta's app = %d, want 404", resp.StatusCode)
	}
	if calls := m.Calls(); len(calls) != 0 {
		t.Errorf("alpha acted on beta's app: %q", calls)
	}
}

// TestHostileText: names, images, messages and events from the cluster or a repository are
// text: a <script> in any of them is escaped, and a javascript: source repository is no link.
func TestHostileText(t *testing.T) {
	const evil = `<script>window.pwned=1</script><img src=x onerror=alert(1)>`
	m := testBackend()
	m.apps[0].HealthMessage = evil
	m.apps[0].SourceRepo = "javascript:alert(1)//"
	m.apps[0].Running = []api.RunningImage{{Object: "Deployment/alpha/" + evil, Container: evil, Image: "reg/web:" + evil, Pods: 1}}
	m.apps[0].LastSync = &api.SyncResult{Status: api.StatusFailed, Message: evil, Trigger: evil}
	m.trees["web"] = &api.Tree{App: "web", Nodes: []api.TreeNode{{ID: "ConfigMap/alpha/" + evil, Kind: evil, Name: evil,
		Health: api.HealthDegraded, Message: evil, Info: evil}}}
	m.events["web"] = []api.Event{{Object: "ConfigMap/alpha/" + evil, Type: "Warning", Reason: evil, Message: evil}}
	m.hist["web"] = []api.SyncResult{{Status: api.StatusFailed, Message: evil, Revision: evil}}
	_, srv := serve(t, m, false)
	cl := client(srv)
	login(t, cl, srv, alphaToken)
	for _, path := range []string{"/", "/apps/web", "/apps/web?node=" + url.QueryEscape("ConfigMap/alpha/"+evil), "/apps/web/events", "/apps/web/history"} {
		_, body := get(t, cl, srv.URL+path)
		if strings.Contains(body, "<script>window") || strings.Contains(body, "<img src=x") || strings.Contains(body, `href="javascript:`) {
			t.Errorf("GET %s: hostile text reached the page unescaped", path)
		}
		if !strings.Contains(body, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
			t.Errorf("GET %s: the hostile text is not shown (escaped)", path)
		}
	}
}

// TestStream: a page's stream gets the states of the apps its principal sees, as the HTML it
// swaps in, and none of another project's.
func TestStream(t *testing.T) {
	c, srv := serve(t, testBackend(), false)
	cl := client(srv)
	login(t, cl, srv, alphaToken)
	next := openStream(t, cl, srv.URL+"/stream", "")
	if ev, _, _ := next(); ev != "hello" {
		t.Fatalf("first event %q, want hello", ev)
	}
	for c.hub.streams() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "api", Syncing: true}, Project: "beta"})
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web", Syncing: true}, Project: "alpha", Health: api.HealthProgressing,
		HealthMessage: "line one\rdata: injected"})
	ev, data, _ := next()
	if ev != "app" || !strings.Contains(data, `id="app-web"`) || !strings.Contains(data, "Syncing") {
		t.Errorf("stream event %q %q, want web's row, syncing", ev, data)
	}
	if strings.Contains(data, "\r") || strings.Contains(data, "app-api") {
		t.Errorf("stream data %q: a carriage return or another project's app got through", data)
	}
}

// TestStreamReplaysWhatThePageMissed: a state published after a page was rendered but before
// its stream connected (a sync that ends behind an action's redirect, seen in CI) reaches the
// page first thing; a reconnecting stream (Last-Event-ID) gets what it missed, the last state of
// each app only; another project's apps are never replayed.
func TestStreamReplaysWhatThePageMissed(t *testing.T) {
	c, srv := serve(t, testBackend(), false)
	cl := client(srv)
	login(t, cl, srv, alphaToken)
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web", Syncing: true}, Project: "alpha"}) // before the page: not replayed
	_, body := get(t, cl, srv.URL+"/apps/web")
	m := regexp.MustCompile(`data-stream="(/apps/web/stream\?since=\d+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("app page without its stream's cursor:\n%s", body)
	}
	// the sync ends, and another project's app changes, before the page's stream connects
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "api", Syncing: true}, Project: "beta"})
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web", LastSync: &api.SyncResult{Status: api.StatusSucceeded}}, Project: "alpha",
		Health: api.HealthHealthy, HealthMessage: "the sync that ended in between"})
	next := openStream(t, cl, srv.URL+html.UnescapeString(m[1]), "")
	if ev, _, _ := next(); ev != "hello" {
		t.Fatalf("first event %q, want hello", ev)
	}
	ev, data, id := next()
	if ev != "app" || !strings.Contains(data, "the sync that ended in between") || strings.Contains(data, "Syncing") || id == "" {
		t.Fatalf("first state on the stream: %q %q (id %q), want web's state published after the render, with its ID", ev, data, id)
	}

	// the stream drops; web changes twice and api once while the browser reconnects
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web", Syncing: true}, Project: "alpha", HealthMessage: "missed, then replaced"})
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "api"}, Project: "beta", HealthMessage: "not alpha's"})
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web"}, Project: "alpha", Health: api.HealthDegraded, HealthMessage: "the latest"})
	next = openStream(t, cl, srv.URL+"/stream", id)
	if ev, _, _ := next(); ev != "hello" {
		t.Fatalf("first event %q, want hello", ev)
	}
	ev, data, _ = next()
	if ev != "app" || !strings.Contains(data, `id="app-web"`) || !strings.Contains(data, "the latest") {
		t.Fatalf("after reconnecting: %q %q, want web's latest state", ev, data)
	}
	// nothing else was waiting: the next event is the next publish
	c.Publish(api.AppState{AppStatus: api.AppStatus{Name: "web"}, Project: "alpha", HealthMessage: "live again"})
	if ev, data, _ = next(); !strings.Contains(data, "live again") {
		t.Errorf("after the replay: %q %q, want the next publish (a stale or foreign state was replayed)", ev, data)
	}
}

// openStream opens a stream (resuming after lastID when set) and returns its reader of events.
func openStream(t *testing.T, cl *http.Client, u, lastID string) func() (event, data, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := cl.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s = %v %v", u, resp, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	r := bufio.NewReader(resp.Body)
	return func() (event, data, id string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && event != "":
				return event, data, id
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data += line[6:] + "\n"
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			}
		}
	}
}

func TestCommitURL(t *testing.T) {
	for _, tc := range []struct{ repo, tag, want string }{
		{"https://github.com/team/web.git", "3f2a1c9", "https://github.com/team/web/commit/3f2a1c9"},
		{"https://gitlab.example.com/team/web/", "3f2a1c9d", "https://gitlab.example.com/team/web/-/commit/3f2a1c9d"},
		{"https://github.com/team/web", "v1.2.3", ""},
		{"https://github.com/team/web", "3F2A1C9", ""},
		{"https://github.com/team/web", "abc123", ""},
		{"", "3f2a1c9", ""},
		{"javascript:alert(1)//", "3f2a1c9", ""},
		{"https://user:pw@github.com/team/web", "3f2a1c9", ""},
	} {
		if got := commitURL(tc.repo, tc.tag); got != tc.want {
			t.Errorf("commitURL(%q, %q) = %q, want %q", tc.repo, tc.tag, got, tc.want)
		}
	}
}

// TestHostileNamesInBrowser renders hostile object names, images and messages in chromium and
// checks with a JS-side flag that none ran. The data is in memory: the API server refuses such
// names (they are not DNS labels), but a backend's answer is input to the console all the same.
// TestConsoleInBrowser covers the hostile text a real cluster and repository can carry.
func TestHostileNamesInBrowser(t *testing.T) {
	const evil = `<script>window.__xss=1</script><img src=x onerror="window.__xss=1">`
	m := testBackend()
	m.apps[0].HealthMessage = evil
	m.apps[0].Running = []api.RunningImage{{Object: "Deployment/alpha/" + evil, Container: evil, Image: "reg/web:" + evil, Pods: 1}}
	m.apps[0].LastSync = &api.SyncResult{Status: api.StatusFailed, Message: evil, Trigger: evil}
	node := "ConfigMap/alpha/" + evil
	m.trees["web"] = &api.Tree{App: "web", Nodes: []api.TreeNode{{ID: node, Kind: "ConfigMap", Name: evil,
		Health: api.HealthDegraded, Message: evil, Info: evil}}}
	m.events["web"] = []api.Event{{Object: node, Type: "Warning", Reason: evil, Message: evil}}
	_, srv := serve(t, m, false)
	tab := browsertest.New(t).Tab(t)
	browsertest.Do(t, tab, chromedp.Navigate(srv.URL+"/login"), chromedp.SendKeys(chromedp.CSS("#token"), alphaToken),
		chromedp.Click(chromedp.CSS("form.card button")), chromedp.WaitVisible(chromedp.CSS("#apps")))
	for _, path := range []string{"/", "/apps/web?node=" + url.QueryEscape(node), "/apps/web/events"} {
		browsertest.Do(t, tab, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main")))
		if ran := browsertest.Run(t, tab, chromedp.Evaluate[bool](`window.__xss === 1`)); ran {
			t.Fatalf("%s ran the hostile script", path)
		}
		if shown := browsertest.Run(t, tab, chromedp.Evaluate[string](`document.querySelector("main").textContent`)); !strings.Contains(shown, "<script>window.__xss=1</script>") {
			t.Errorf("%s does not show the hostile name as text", path)
		}
	}
	// escaping, not only the Content-Security-Policy, kept them out
	for _, msg := range tab.Messages() {
		if strings.Contains(msg, "Content Security Policy") {
			t.Errorf("markup reached the page and only the CSP stopped it: %s", msg)
		}
	}
}
