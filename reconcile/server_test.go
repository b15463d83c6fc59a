package reconcile_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

const apiToken = "api-token-0123456789"

func (f *fixture) server(interval time.Duration, apps ...reconcile.App) (*reconcile.Server, *httptest.Server) {
	return f.serverWith(reconcile.ServerOptions{Token: apiToken, Interval: interval}, apps...)
}

func (f *fixture) serverWith(opts reconcile.ServerOptions, apps ...reconcile.App) (*reconcile.Server, *httptest.Server) {
	f.t.Helper()
	s, err := reconcile.NewServer(context.Background(), f.r, &reconcile.Config{Apps: apps}, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	f.t.Cleanup(hs.Close)
	return s, hs
}

func post(t *testing.T, url, token string, req api.SyncRequest) (int, api.SyncResult) {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res api.SyncResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

func TestAPI(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	f.commit(map[string]string{"d.yaml": deploymentYAML("web", "example.com/web:v1")})
	_, hs := f.server(-1, app)
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
	typo, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"expectedImage":"example.com/web:v1"}`))
	typo.Header.Set("Authorization", "Bearer "+apiToken)
	if resp, err := http.DefaultClient.Do(typo); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST with an unknown field = %v %v, want 400", resp.Status, err)
	} else {
		resp.Body.Close()
	}

	code, res := post(t, url, apiToken, api.SyncRequest{ExpectImage: "example.com/web:v1", Wait: true})
	if code != http.StatusOK || res.Status != api.StatusSucceeded || f.readyImages()["example.com/web:v1"] != 2 {
		t.Fatalf("first sync = %d %s %q, ready %v", code, res.Status, res.Message, f.readyImages())
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

	// The status page needs no token and shows no messages.
	resp, err := http.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "<td>web") || strings.Contains(string(page), "no-op refused") {
		t.Errorf("status page:\n%s", page)
	}

	// Concurrent triggers of one app run one after the other.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, res := post(t, url, apiToken, api.SyncRequest{AllowNoop: true, Wait: true}); code != http.StatusOK {
				t.Errorf("concurrent sync = %d %q", code, res.Message)
			}
		}()
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
	s, hs := f.server(100*time.Millisecond, app)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Poll(ctx)

	waitFor(t, "the first poll's sync", func() bool { l := lastSync(t, hs); return l != nil && l.Revision == first })
	if l := lastSync(t, hs); l.Trigger != reconcile.TriggerPoll || l.Status != api.StatusSucceeded {
		t.Errorf("poll sync = %s %s %q", l.Trigger, l.Status, l.Message)
	}
	waitFor(t, "three unchanged polls", func() bool { return polls(t, s, "unchanged") >= 3 })
	if hist, _ := f.r.History(ctx, "web"); len(hist) != 1 {
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
	c := &api.Client{URL: hs.URL, Token: apiToken}
	st, err := c.Status(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return st.LastSync
}

// polls returns the value of the poll counter of app web with the given result.
func polls(t *testing.T, s *reconcile.Server, result string) float64 {
	t.Helper()
	families, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range families {
		if mf.GetName() != "tagrelay_reconciler_polls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["app"] == "web" && labels["result"] == result {
				v = m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestLeaderElection: of two replicas, one leads (ready, syncing); the other takes over when
// the leader stops.
func TestLeaderElection(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	opts := reconcile.ServerOptions{Token: apiToken, Interval: -1, LeaderElection: true}
	s1, hs1 := f.serverWith(opts, app)
	s2, hs2 := f.serverWith(opts, app)
	ready := func(hs *httptest.Server) bool {
		resp, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if ready(hs1) || ready(hs2) {
		t.Fatal("a replica is ready before winning the election")
	}
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { done1 <- s1.LeaderElection(ctx1, "lease", "one", func(ctx context.Context) { <-ctx.Done() }) }()
	waitFor(t, "replica one to lead", func() bool { return ready(hs1) })
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	done2 := make(chan error, 1)
	go func() { done2 <- s2.LeaderElection(ctx2, "lease", "two", func(ctx context.Context) { <-ctx.Done() }) }()
	time.Sleep(3 * time.Second) // more than one retry period of replica two
	if ready(hs2) {
		t.Fatal("both replicas lead")
	}
	if code, _ := post(t, hs2.URL+api.SyncPath("web"), apiToken, api.SyncRequest{}); code != http.StatusServiceUnavailable {
		t.Errorf("sync on the follower = %d, want 503", code)
	}
	stop1()
	if err := <-done1; !errors.Is(err, context.Canceled) {
		t.Errorf("LeaderElection() after cancel = %v", err)
	}
	waitFor(t, "replica two to take over", func() bool { return ready(hs2) })
	if ready(hs1) {
		t.Error("replica one is still ready after stopping")
	}
	stop2()
	<-done2
}

// TestWebhooks: an authenticated GitLab or GitHub push of the app's branch deploys the new
// commit at once (polling is off); a wrong secret is 401, another branch or repository nothing.
func TestWebhooks(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	const secret = "hook-s3cret"
	_, hs := f.serverWith(reconcile.ServerOptions{Token: apiToken, Interval: -1, WebhookSecret: secret}, app)
	repoURL := f.git.RepoURL(f.repo)
	lastRevision := func() string {
		if l := lastSync(t, hs); l != nil {
			return l.Revision
		}
		return ""
	}
	send := func(forge, event string, body string, sign func([]byte) (string, string)) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/webhooks/"+forge, strings.NewReader(body))
		k, v := sign([]byte(body))
		r.Header.Set(k, v)
		if forge == "gitlab" {
			r.Header.Set("X-Gitlab-Event", event)
		} else {
			r.Header.Set("X-GitHub-Event", event)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	gitlabToken := func(tok string) func([]byte) (string, string) {
		return func([]byte) (string, string) { return "X-Gitlab-Token", tok }
	}
	githubSig := func(key string) func([]byte) (string, string) {
		return func(b []byte) (string, string) {
			m := hmac.New(sha256.New, []byte(key))
			m.Write(b)
			return "X-Hub-Signature-256", "sha256=" + hex.EncodeToString(m.Sum(nil))
		}
	}
	// Payloads trimmed from the forges' documented push events.
	gitlabPush := func(ref, url string) string {
		return `{"object_kind":"push","event_name":"push","ref":"` + ref + `","checkout_sha":"x","project":{"id":1,"name":"infra","git_http_url":"` + url + `","git_ssh_url":"git@example.com:infra.git"}}`
	}
	githubPush := func(ref, url string) string {
		return `{"ref":"` + ref + `","before":"0","after":"1","repository":{"id":1,"full_name":"team/infra","clone_url":"` + url + `","ssh_url":"git@github.com:team/infra.git"}}`
	}
	waitRevision := func(want string) {
		t.Helper()
		waitFor(t, "the webhook's sync of "+want, func() bool { return lastRevision() == want })
	}

	first := f.commit(map[string]string{"c.yaml": configMapYAML("c")})
	if code, _ := send("gitlab", "Push Hook", gitlabPush("refs/heads/main", repoURL), gitlabToken("wrong")); code != http.StatusUnauthorized {
		t.Errorf("GitLab push with a wrong token = %d, want 401", code)
	}
	if code, body := send("gitlab", "Push Hook", gitlabPush("refs/heads/other", repoURL), gitlabToken(secret)); code != http.StatusAccepted || !strings.Contains(body, `"apps": []`) {
		t.Errorf("GitLab push of another branch = %d %s", code, body)
	}
	if code, body := send("gitlab", "Push Hook", gitlabPush("refs/heads/main", strings.ToUpper(repoURL[:7])+repoURL[7:]+"/"), gitlabToken(secret)); code != http.StatusAccepted || !strings.Contains(body, `"web"`) {
		t.Errorf("GitLab push = %d %s", code, body)
	}
	waitRevision(first)

	second := f.commit(map[string]string{"c.yaml": configMapYAML("c") + "  k2: v2\n"})
	if code, _ := send("github", "push", githubPush("refs/heads/main", strings.TrimSuffix(repoURL, ".git")), githubSig("wrong")); code != http.StatusUnauthorized {
		t.Errorf("GitHub push with a wrong signature = %d, want 401", code)
	}
	if code, _ := send("github", "ping", `{"zen":"hi"}`, githubSig(secret)); code != http.StatusOK {
		t.Errorf("GitHub ping = %d, want 200", code)
	}
	if lastRevision() != first {
		t.Fatalf("a rejected or foreign webhook deployed %s", lastRevision())
	}
	if code, body := send("github", "push", githubPush("refs/heads/main", repoURL), githubSig(secret)); code != http.StatusAccepted || !strings.Contains(body, `"web"`) {
		t.Errorf("GitHub push = %d %s", code, body)
	}
	waitRevision(second)
}
