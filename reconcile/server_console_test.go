package reconcile_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/reconcile"
)

// TestConsoleSessionsFollowTheTokens: the console mounted by the server logs in with the tokens
// of the API, scopes a project's user to its apps, and ends a session whose token changed or
// whose project went (the next request goes to the login form), or that another session key
// signed. Nothing here reads the cluster: the overview comes from the server's own state.
func TestConsoleSessionsFollowTheTokens(t *testing.T) {
	t.Parallel()
	const (
		admin  = "admin-token-0123456789"
		alpha  = "alpha-token-0123456789"
		alpha2 = "alpha-token-rotated-9876"
		beta   = "beta-token-0123456789"
	)
	key := []byte("console-test-session-key-32bytes!")
	r, err := reconcile.New(&rest.Config{Host: "http://127.0.0.1:1"}, reconcile.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var handler atomic.Pointer[http.Handler]
	serve := func(adminToken, alphaToken string, sessionKey []byte, withBeta bool) {
		cfg := &reconcile.Config{Apps: []reconcile.App{
			{Name: "web", Repo: "https://git.example/infra.git", Namespace: "alpha"},
			{Name: "api", Repo: "https://git.example/infra.git", Namespace: "beta"},
		}, Projects: reconcile.Projects{{Name: "alpha", Namespaces: []string{"alpha"}, Token: alphaToken}}}
		if withBeta {
			cfg.Projects = append(cfg.Projects, reconcile.Project{Name: "beta", Namespaces: []string{"beta"}, Token: beta})
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := reconcile.NewServer(r, cfg, reconcile.ServerOptions{Token: adminToken, Interval: -1,
			Console: reconcile.ConsoleOptions{SessionKey: sessionKey, DriftInterval: -1}})
		if err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		handler.Store(&h)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }))
	defer hs.Close()
	get := func(cl *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := cl.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusSeeOther {
			return resp.StatusCode, resp.Header.Get("Location")
		}
		return resp.StatusCode, string(b)
	}
	login := func(token string) *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		_, form := get(cl, "/login")
		m := csrfField.FindStringSubmatch(form)
		if m == nil {
			t.Fatalf("no login form: %s", form)
		}
		resp, err := cl.PostForm(hs.URL+"/login", url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("login = %d %s, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		return cl
	}
	loggedOut := func(cl *http.Client, who string) {
		t.Helper()
		if code, loc := get(cl, "/"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s: GET / = %d %q, want the login form", who, code, loc)
		}
	}

	serve(admin, alpha, key, true)
	a := login(alpha)
	code, page := get(a, "/")
	if code != http.StatusOK || !strings.Contains(page, `id="app-web"`) || strings.Contains(page, `id="app-api"`) {
		t.Fatalf("alpha's overview = %d, want web and not beta's api:\n%.2000s", code, page)
	}
	if code, _ := get(a, "/apps/api/history"); code != http.StatusNotFound {
		t.Errorf("alpha opens beta's app: %d, want 404", code)
	}
	b, root := login(beta), login(admin)
	if code, page := get(root, "/"); code != http.StatusOK || !strings.Contains(page, `id="app-web"`) || !strings.Contains(page, `id="app-api"`) {
		t.Errorf("the admin's overview = %d, want both apps", code)
	}

	// alpha's token is rotated: alpha's session ends; beta's and the admin's hold
	serve(admin, alpha2, key, true)
	loggedOut(a, "alpha after its token changed")
	if code, _ := get(b, "/"); code != http.StatusOK {
		t.Errorf("beta after alpha's rotation: %d, want 200", code)
	}
	if code, _ := get(root, "/"); code != http.StatusOK {
		t.Errorf("the admin after alpha's rotation: %d, want 200", code)
	}
	// beta's project goes; then the admin token changes
	serve(admin, alpha2, key, false)
	loggedOut(b, "beta after its project went")
	serve("admin-token-rotated-9876", alpha2, key, false)
	loggedOut(root, "the admin after the admin token changed")
	// another session key (a replica without the shared key) knows no session
	a2 := login(alpha2)
	serve("admin-token-rotated-9876", alpha2, []byte("another-session-key-of-32-bytes!!"), false)
	loggedOut(a2, "alpha under another session key")
}
