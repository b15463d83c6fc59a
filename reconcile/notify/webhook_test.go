package notify_test

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// receiver records what a webhook server receives.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	status int
	echo   bool // answer with the request's URL and headers, as a careless server does
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies, rc.heads = append(rc.bodies, b), append(rc.heads, r.Header.Clone())
	status, echo := rc.status, rc.echo
	rc.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if echo {
		io.WriteString(w, "bad request to "+r.URL.String()+" signed "+r.Header.Get(notify.SignatureHeader))
	}
}

// TestWebhookSigned: the JSON payload carries the app, the state, the console link, the result
// with its app commits (no diffs) and the diagnosis, signed with the secret.
func TestWebhookSigned(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	const secret = "whsec-0123456789abcdef"
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{Webhook: &notify.Webhook{URL: srv.URL + "/hooks/deploys", SecretFile: secretFile(t, secret), On: []notify.State{notify.Failure}}}
	res := result(api.StatusFailed, "rollout failed")
	res.Objects = []api.ObjectChange{{Object: "Secret/team-web/db", Action: api.ActionConfigured, Diff: "-password: hunter2"}}
	h.n.Started(cfg, result(api.StatusApplied, "")) // not wanted: on is failure only
	h.n.Finished(cfg, res, crashLoop("attempt-1"))
	if f := failedOf(h.flush(t)); len(f) != 0 {
		t.Fatal(f)
	}
	if len(rc.bodies) != 1 {
		t.Fatalf("%d posts, want the failure only", len(rc.bodies))
	}
	body, head := rc.bodies[0], rc.heads[0]
	if got, want := head.Get(notify.SignatureHeader), notify.Sign([]byte(secret), body); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature %q, want %q", got, want)
	}
	if head.Get(notify.EventHeader) != "deploy" || len(head.Get(notify.DeliveryHeader)) != 32 || head.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", head)
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.App != "web" || p.State != notify.Failure || p.ConsoleURL != consoleURL+"/apps/web" || len(p.Result.AppCommits) != 1 ||
		p.Result.AppCommits[0].Commit != appSHA || p.Diagnosis == nil || p.Diagnosis.Objects[0].Object != "Deployment/team-web/web" {
		t.Errorf("payload = %+v", p)
	}
	if strings.Contains(string(body), "hunter2") {
		t.Errorf("the payload carries an object diff: %s", body)
	}
	h.assertNoSecret(t, secret)
}

// TestChatMessage: a Slack/Mattermost message from the default template, with the commit and the
// console link, and the sync's message escaped (no mention, no Slack control sequence).
func TestChatMessage(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	hookURL := srv.URL + "/hooks/T000/B000/XXXXsecretXXXX"
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{Chat: &notify.Chat{URLFile: secretFile(t, hookURL)}}
	h.n.Started(cfg, result(api.StatusApplied, "")) // not sent by default
	h.n.Finished(cfg, result(api.StatusFailed, "image <!channel> @here broke & died"), nil)
	if f := failedOf(h.flush(t)); len(f) != 0 {
		t.Fatal(f)
	}
	if len(rc.bodies) != 1 {
		t.Fatalf("%d posts, want the failure only", len(rc.bodies))
	}
	var msg struct{ Text string }
	if err := json.Unmarshal(rc.bodies[0], &msg); err != nil {
		t.Fatal(err)
	}
	want := ":x: *web* failed to deploy infra revision ffffffffffff · 1a2b3c4d5e6f (harbor.example/team/web:1a2b3c4d): " +
		"image &lt;!channel&gt; @\u200bhere broke &amp; died · " + consoleURL + "/apps/web"
	if msg.Text != want {
		t.Errorf("text = %q\nwant   %q", msg.Text, want)
	}
}

// TestWebhookErrorsKeepSecrets: a server that echoes the URL (and the signature) in its error
// answer, and a URL that is its own secret: the error names the host only, and nothing secret
// reaches the log or the error.
func TestWebhookErrorsKeepSecrets(t *testing.T) {
	t.Parallel()
	rc := &receiver{status: http.StatusBadRequest, echo: true}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	const secret = "whsec-echoed-0123456789"
	hookPath := "/services/T0/B0/ZZsecretpathZZ"
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{
		Webhook: &notify.Webhook{URLFile: secretFile(t, srv.URL+hookPath+"?token=tok-in-query-123"), SecretFile: secretFile(t, secret)},
		GitLab:  &notify.GitLab{URL: "http://127.0.0.1:1", Project: "team/web", TokenFile: secretFile(t, gitlabToken)},
	}
	h.n.Finished(cfg, result(api.StatusFailed, "boom"), nil)
	f := failedOf(h.flush(t))
	if len(f) != 2 {
		t.Fatalf("failures = %q, want GitLab's and the webhook's", f)
	}
	var hook string
	for _, x := range f {
		if strings.HasPrefix(x, "webhook: ") {
			hook = x
		}
	}
	if !strings.Contains(hook, "posting to the webhook at "+strings.TrimPrefix(srv.URL, "http://")+": 400 Bad Request") {
		t.Errorf("webhook failure = %q, want the host and the status", hook)
	}
	h.assertNoSecret(t, secret, "ZZsecretpathZZ", "tok-in-query-123", gitlabToken)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  notify.Config
		want string
	}{
		{"gitlab fields", notify.Config{GitLab: &notify.GitLab{URL: "https://gitlab.example.com"}}, "gitlab needs project, tokenFile"},
		{"gitlab URL with token", notify.Config{GitLab: &notify.GitLab{URL: "https://oauth2:glpat-x@gitlab.example.com", Project: "a/b", TokenFile: "/t"}}, "no credentials in the URL"},
		{"github repo", notify.Config{GitHub: &notify.GitHub{Repo: "web", TokenFile: "/t"}}, `github.repo "web": use OWNER/NAME`},
		{"webhook both URLs", notify.Config{Webhook: &notify.Webhook{URL: "https://a.example", URLFile: "/u"}}, "webhook needs url or urlFile (one of them)"},
		{"webhook state", notify.Config{Webhook: &notify.Webhook{URL: "https://a.example", On: []notify.State{"done"}}}, `unknown state "done"`},
		{"chat template", notify.Config{Chat: &notify.Chat{URLFile: "/u", Template: "{{.App"}}, "chat.template"},
		{"chat scheme", notify.Config{Chat: &notify.Chat{URL: "ftp://hooks.example"}}, "chat.url: not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an input error with %q", err, tc.want)
			}
		})
	}
	ok := notify.Config{GitLab: &notify.GitLab{URL: "https://gitlab.example.com", Project: "team/web", TokenFile: "/t"},
		GitHub: &notify.GitHub{Repo: "octo-org/web", TokenFile: "/t"}, Chat: &notify.Chat{URLFile: "/u"}, Webhook: &notify.Webhook{URL: "https://h.example/x"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() of a valid config = %v", err)
	}
	if err := (*notify.Config)(nil).Validate(); err != nil {
		t.Errorf("Validate() of no config = %v", err)
	}
}
