package reconcile_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/reconcile"
)

// TestWebhooks: an authenticated GitLab or GitHub push of the app's branch deploys the new
// commit at once (polling is off); a wrong secret is 401, another branch or repository nothing;
// each forge has its own secret; a large body is refused before it is read; a burst of
// deliveries for one app costs at most two syncs.
func TestWebhooks(t *testing.T) {
	f := newFixture(t)
	app := f.app("web", "")
	const gitlabSecret, githubSecret = "gitlab-hook-s3cret", "github-hook-s3cret"
	s, hs := f.serve(reconcile.ServerOptions{Interval: -1, GitLabWebhookSecret: gitlabSecret, GitHubWebhookSecret: githubSecret}, app)
	repoURL := f.git.RepoURL(f.repo)
	lastRevision := func() string {
		if l := lastSync(t, hs); l != nil {
			return l.Revision
		}
		return ""
	}
	waitRevision := func(want string) {
		t.Helper()
		waitFor(t, "the webhook's sync of "+want, func() bool { return lastRevision() == want })
	}

	first := f.commit(map[string]string{"c.yaml": configMapYAML("c")})
	if code, _ := sendHook(t, hs, "gitlab", "Push Hook", gitlabPush("refs/heads/main", repoURL), gitlabToken(githubSecret)); code != http.StatusUnauthorized {
		t.Errorf("GitLab push with GitHub's secret = %d, want 401", code)
	}
	if code, body := sendHook(t, hs, "gitlab", "Push Hook", gitlabPush("refs/heads/other", repoURL), gitlabToken(gitlabSecret)); code != http.StatusAccepted || !strings.Contains(body, `"apps": []`) {
		t.Errorf("GitLab push of another branch = %d %s", code, body)
	}
	if code, body := sendHook(t, hs, "gitlab", "Push Hook", gitlabPush("refs/heads/main", strings.ToUpper(repoURL[:7])+repoURL[7:]+"/"), gitlabToken(gitlabSecret)); code != http.StatusAccepted || !strings.Contains(body, `"web"`) {
		t.Errorf("GitLab push = %d %s", code, body)
	}
	waitRevision(first)

	second := f.commit(map[string]string{"c.yaml": configMapYAML("c") + "  k2: v2\n"})
	if code, _ := sendHook(t, hs, "github", "push", githubPush("refs/heads/main", repoURL), githubSig(gitlabSecret)); code != http.StatusUnauthorized {
		t.Errorf("GitHub push signed with GitLab's secret = %d, want 401", code)
	}
	if code, _ := sendHook(t, hs, "github", "ping", `{"zen":"hi"}`, githubSig(githubSecret)); code != http.StatusOK {
		t.Errorf("GitHub ping = %d, want 200", code)
	}
	if lastRevision() != first {
		t.Fatalf("a rejected or foreign webhook deployed %s", lastRevision())
	}
	if code, body := sendHook(t, hs, "github", "push", githubPush("refs/heads/main", strings.TrimSuffix(repoURL, ".git")), githubSig(githubSecret)); code != http.StatusAccepted || !strings.Contains(body, `"web"`) {
		t.Errorf("GitHub push = %d %s", code, body)
	}
	waitRevision(second)

	// A 2 MiB delivery with a wrong token is refused from its headers: the answer comes while
	// the client has sent none of the body; GitHub's, which needs the body, on its length.
	addr := strings.TrimPrefix(hs.URL, "http://")
	for _, tc := range []struct{ forge, header string }{
		{"gitlab", "X-Gitlab-Token: wrong"},
		{"github", "X-Hub-Signature-256: sha256=00"},
	} {
		status := headersOnly(t, addr, "/api/v1/webhooks/"+tc.forge, tc.header, 2<<20)
		if want := map[string]string{"gitlab": "401", "github": "413"}[tc.forge]; !strings.Contains(status, want) {
			t.Errorf("%s: 2 MiB delivery, body unsent: %q, want %s", tc.forge, status, want)
		}
	}

	// 100 deliveries of one push: the first wakes the poll that syncs, the rest coalesce into
	// at most one more poll, which finds the commit handled.
	third := f.commit(map[string]string{"c.yaml": configMapYAML("c") + "  k3: v3\n"})
	before := metric(t, s, "tagrelay_reconciler_syncs_total", "web", "")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if code, body := sendHook(t, hs, "gitlab", "Push Hook", gitlabPush("refs/heads/main", repoURL), gitlabToken(gitlabSecret)); code != http.StatusAccepted {
				t.Errorf("delivery = %d %s", code, body)
			}
		})
	}
	wg.Wait()
	waitRevision(third)
	settled := func() float64 {
		return metric(t, s, "tagrelay_reconciler_polls_total", "web", "changed") + metric(t, s, "tagrelay_reconciler_polls_total", "web", "unchanged")
	}
	for last := -1.0; settled() != last; time.Sleep(500 * time.Millisecond) {
		last = settled()
	}
	if syncs := metric(t, s, "tagrelay_reconciler_syncs_total", "web", "") - before; syncs < 1 || syncs > 2 {
		t.Errorf("100 deliveries ran %v syncs, want 1 or 2", syncs)
	}
}

// headersOnly sends a POST's headers announcing a body of size bytes, sends none of it, and
// returns the status line of the answer.
func headersOnly(t *testing.T, addr, path, header string, size int) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Gitlab-Event: Push Hook\r\nX-GitHub-Event: push\r\n%s\r\nContent-Length: %d\r\n\r\n", path, addr, header, size)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	return status
}

func sendHook(t *testing.T, hs *httptest.Server, forge, event, body string, sign func([]byte) (string, string)) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/webhooks/"+forge, strings.NewReader(body))
	k, v := sign([]byte(body))
	r.Header.Set(k, v)
	if forge == "gitlab" {
		r.Header.Set("X-Gitlab-Event", event)
	} else {
		r.Header.Set("X-GitHub-Event", event)
	}
	resp, err := http.DefaultClient.Do(r.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gitlabToken(tok string) func([]byte) (string, string) {
	return func([]byte) (string, string) { return "X-Gitlab-Token", tok }
}

func githubSig(key string) func([]byte) (string, string) {
	return func(b []byte) (string, string) {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(b)
		return "X-Hub-Signature-256", "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
}

// Payloads trimmed from the forges' documented push events.
func gitlabPush(ref, url string) string {
	return `{"object_kind":"push","event_name":"push","ref":"` + ref + `","checkout_sha":"x","project":{"id":1,"name":"infra","git_http_url":"` + url + `","git_ssh_url":"git@example.com:infra.git"}}`
}

func githubPush(ref, url string) string {
	return `{"ref":"` + ref + `","before":"0","after":"1","repository":{"id":1,"full_name":"team/infra","clone_url":"` + url + `","ssh_url":"git@github.com:team/infra.git"}}`
}
