package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

const apiToken = "api-token-0123456789"

// serve runs a server for the apps (admin token apiToken unless opts says otherwise) until the
// test ends, and returns it once ready with an HTTP test server of its handler.
func (f *fixture) serve(opts reconcile.ServerOptions, apps ...reconcile.App) (*reconcile.Server, *httptest.Server) {
	return f.serveConfig(&reconcile.Config{Apps: apps}, opts)
}

func (f *fixture) serveConfig(cfg *reconcile.Config, opts reconcile.ServerOptions) (*reconcile.Server, *httptest.Server) {
	f.t.Helper()
	if opts.Token == "" {
		opts.Token = apiToken
	}
	s, err := reconcile.NewServer(f.r, cfg, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	runServer(f.t, s)
	f.t.Cleanup(hs.Close)
	waitFor(f.t, "the server to be ready", func() bool { return s.Status().Ready })
	return s, hs
}

// replica runs one replica of a server of apps until the test ends: its own reconciler and
// cache on cfg (a copy of the cluster's, whose transport a test may wrap to freeze or kill the
// process's requests), leader election le, advertising url, polls off.
func (f *fixture) replica(cfg *rest.Config, le reconcile.LeaderElection, url string, apps ...reconcile.App) *reconcile.Server {
	f.t.Helper()
	r, err := reconcile.New(cfg, reconcile.Options{Namespace: f.sys, CacheDir: f.t.TempDir(), PollInterval: 200 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := reconcile.NewServer(r, &reconcile.Config{Apps: apps}, reconcile.ServerOptions{Token: apiToken,
		Interval: -1, LeaderElection: &le, AdvertiseURL: url})
	if err != nil {
		f.t.Fatal(err)
	}
	runServer(f.t, s)
	return s
}

// runServer runs s until the test ends.
func runServer(t *testing.T, s *reconcile.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func post(t *testing.T, url, token string, req any) (int, api.SyncResult) {
	t.Helper()
	body, _ := json.Marshal(req)
	code, b := call(t, http.MethodPost, url, token, bytes.NewReader(body))
	var res api.SyncResult
	_ = json.Unmarshal(b, &res)
	return code, res
}

// call sends a request with a bearer token and returns the status code and the body.
func call(t *testing.T, method, url, token string, body io.Reader) (int, []byte) {
	t.Helper()
	r, _ := http.NewRequest(method, url, body)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAPI(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1")})
	_, hs := f.serve(reconcile.ServerOptions{Interval: -1}, app)
	url := hs.URL + api.SyncPath("web")

	for _, token := range []string{"", "wrong", apiToken + "x"} {
		if code, _ := post(t, url, token, api.SyncRequest{}); code != http.StatusUnauthorized {
			t.Errorf("POST with token %q = %d, want 401", token, code)
		}
	}
	if hist, _ := f.r.History(context.Background(), "web"); len(hist) != 0 || len(f.objectNames()) != 0 {
		t.Fatalf("unauthorized requests synced: history %d entries, objects %v", len(hist), f.objectNames())
	}
	if code, _ := post(t, hs.URL+api.SyncPath("nope"), apiToken, api.SyncRequest{}); code != http.StatusNotFound {
		t.Errorf("POST for an unknown app = %d, want 404", code)
	}
	if code, _ := call(t, http.MethodPost, url, apiToken, strings.NewReader(`{"expectedImage":"example.com/web:v1"}`)); code != http.StatusBadRequest {
		t.Errorf("POST with an unknown field = %d, want 400", code)
	}

	code, res := post(t, url, apiToken, api.SyncRequest{ExpectImage: "example.com/web:v1", Wait: true})
	if code != http.StatusOK || res.Status != api.StatusSucceeded || f.readyImages()["example.com/web:v1"] != 2 {
		t.Fatalf("first sync = %d %s %q, ready %v", code, res.Status, res.Message, f.readyImages())
	}
	if res.Caller == nil || res.Caller.Kind != api.CallerAdmin || res.Replica != f.r.Identity() || res.ID == "" {
		t.Errorf("first sync caller %+v, replica %q, id %q; want the admin, this replica, an id", res.Caller, res.Replica, res.ID)
	}
	code, res = post(t, url, apiToken, api.SyncRequest{Wait: true})
	if code != http.StatusConflict || res.ExitCode != 3 || !strings.Contains(res.Message, "web=example.com/web:v1") {
		t.Errorf("same-tag sync = %d, exit %d, %q; want 409, exit 3, naming the image", code, res.ExitCode, res.Message)
	}
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v2")})
	code, res = post(t, url, apiToken, api.SyncRequest{})
	if code != http.StatusAccepted || res.Status != api.StatusApplied {
		t.Errorf("sync without wait = %d %s, want 202 Applied", code, res.Status)
	}

	// The console at / wants a login: a bearer token is no session, and gets the login form.
	for _, token := range []string{"", apiToken} {
		if code, page := call(t, http.MethodGet, hs.URL+"/", token, nil); code != http.StatusOK || !strings.Contains(string(page), `action="/login"`) || strings.Contains(string(page), "apps/web") {
			t.Errorf("GET / (with a bearer token: %v) = %d, want the login form and nothing of the apps:\n%s", token != "", code, page)
		}
	}

	// Concurrent triggers of one app run one after the other.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if code, res := post(t, url, apiToken, api.SyncRequest{AllowNoop: true, Wait: true}); code != http.StatusOK {
				t.Errorf("concurrent sync = %d %q", code, res.Message)
			}
		})
	}
	wg.Wait()
	hist, err := f.r.History(context.Background(), "web")
	if err != nil || len(hist) != 6 {
		t.Fatalf("History() = %d entries, %v; want 6", len(hist), err)
	}
	for i := 0; i+1 < len(hist); i++ { // newest first
		newer, older := hist[i], hist[i+1]
		if end := older.Started.Add(time.Duration(older.Duration)); newer.Started.Before(end) {
			t.Errorf("sync started at %s overlaps the one that ran until %s", newer.Started, end)
		}
	}
}

// TestPoll: the first poll deploys, later polls of an unchanged revision only list refs, and a
// new commit is deployed by the next poll.
func TestPoll(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	first := f.commit(map[string]string{"c.yaml": configMapYAML("c")})
	s, hs := f.serve(reconcile.ServerOptions{Interval: 100 * time.Millisecond}, app)

	waitFor(t, "the first poll's sync", func() bool { l := lastSync(t, hs); return l != nil && l.Revision == first })
	if l := lastSync(t, hs); l.Trigger != reconcile.TriggerPoll || l.Status != api.StatusSucceeded {
		t.Errorf("poll sync = %s %s %q", l.Trigger, l.Status, l.Message)
	}
	waitFor(t, "three unchanged polls", func() bool { return metric(t, s, "tagrelay_reconciler_polls_total", "web", "unchanged") >= 3 })
	if hist, _ := f.r.History(context.Background(), "web"); len(hist) != 1 {
		t.Errorf("unchanged polls synced: %d history entries, want 1", len(hist))
	}
	second := f.commit(map[string]string{"c.yaml": configMapYAML("c") + "  k2: v2\n"})
	waitFor(t, "the new commit's sync", func() bool { l := lastSync(t, hs); return l != nil && l.Revision == second })
}

// waitFor polls cond until it holds, failing the test after 45 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(45 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// lastSync returns the last sync of app web, as GET /api/v1/apps/web shows it.
func lastSync(t *testing.T, hs *httptest.Server) *api.SyncResult {
	t.Helper()
	return appStatus(t, hs, "web").LastSync
}

func appStatus(t *testing.T, hs *httptest.Server, app string) *api.AppStatus {
	t.Helper()
	st, err := (&api.Client{URL: hs.URL, Token: apiToken}).Status(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// metric returns the value of a counter of the server whose first two labels' values are a
// and b (app and result, forge and result, …); "" matches any value.
func metric(t *testing.T, s *reconcile.Server, name, a, b string) float64 {
	t.Helper()
	families, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := m.GetLabel()
			if len(l) >= 2 && (a == "" || l[0].GetValue() == a) && (b == "" || l[1].GetValue() == b) {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}
