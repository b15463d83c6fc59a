package reconcile

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Webhooks make a push visible before the next poll: the server checks the apps of the pushed
// repository and ref at once, exactly like a poll (ls-remote; sync only a new commit; no no-op
// guard). They authenticate with the forge's own scheme and ServerOptions.WebhookSecret:
//
//	POST /api/v1/webhooks/gitlab   X-Gitlab-Token: SECRET          (push and tag push events)
//	POST /api/v1/webhooks/github   X-Hub-Signature-256: sha256=HMAC (push events; ping answers 200)
//
// https://docs.gitlab.com/user/project/integrations/webhooks/
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries

// pushEvent is what both forges' push payloads say that matters here.
type pushEvent struct {
	Ref     string   `json:"ref"`
	Project struct { // GitLab
		HTTPURL string `json:"git_http_url"`
	} `json:"project"`
	Repository struct { // GitHub
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
}

func (s *Server) handleGitLab(w http.ResponseWriter, r *http.Request) {
	body, ok := s.webhookBody(w, r)
	if !ok {
		return
	}
	if !equalSecret(r.Header.Get("X-Gitlab-Token"), s.opts.WebhookSecret) {
		s.unauthorized(w, "missing or wrong X-Gitlab-Token", "set the webhook's secret token to the reconciler's webhook secret")
		return
	}
	switch r.Header.Get("X-Gitlab-Event") {
	case "Push Hook", "Tag Push Hook":
		s.handlePush(w, body, func(e pushEvent) string { return e.Project.HTTPURL })
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"apps": []string{}, "ignored": r.Header.Get("X-Gitlab-Event")})
	}
}

func (s *Server) handleGitHub(w http.ResponseWriter, r *http.Request) {
	body, ok := s.webhookBody(w, r)
	if !ok {
		return
	}
	mac := hmac.New(sha256.New, []byte(s.opts.WebhookSecret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
		s.unauthorized(w, "missing or wrong X-Hub-Signature-256", "set the webhook's secret to the reconciler's webhook secret")
		return
	}
	switch r.Header.Get("X-GitHub-Event") {
	case "push":
		s.handlePush(w, body, func(e pushEvent) string { return e.Repository.CloneURL })
	default: // ping and everything else
		writeJSON(w, http.StatusOK, map[string]any{"apps": []string{}, "ignored": r.Header.Get("X-GitHub-Event")})
	}
}

// webhookBody reads the body, answering 404 when webhooks are not configured.
func (s *Server) webhookBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if s.opts.WebhookSecret == "" {
		writeJSON(w, http.StatusNotFound, api.Error{Error: "webhooks are not configured", Hint: "start serve with --webhook-secret-file"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "reading the webhook: " + err.Error()})
		return nil, false
	}
	return body, true
}

// handlePush checks now every app of the pushed repository whose revision is the pushed ref.
func (s *Server) handlePush(w http.ResponseWriter, body []byte, repoOf func(pushEvent) string) {
	var e pushEvent
	if err := json.Unmarshal(body, &e); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "decoding the push event: " + err.Error()})
		return
	}
	repo := normalizeRepo(repoOf(e))
	apps := []string{}
	for _, st := range s.apps {
		if normalizeRepo(st.app.Repo) != repo || (e.Ref != "refs/heads/"+st.app.Revision && e.Ref != "refs/tags/"+st.app.Revision) {
			continue
		}
		apps = append(apps, st.app.Name)
		go s.pollNow(st)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"apps": apps})
}

// pollNow is a poll that waits for a running sync of the app instead of skipping its turn.
func (s *Server) pollNow(st *appState) {
	st.lock <- struct{}{}
	<-st.lock
	s.pollOnce(s.base, st)
}

func (s *Server) unauthorized(w http.ResponseWriter, msg, hint string) {
	s.metrics.requests.WithLabelValues("401").Inc()
	writeJSON(w, http.StatusUnauthorized, api.Error{Error: msg, Hint: hint})
}

// normalizeRepo makes the URLs of one repository compare equal: scheme, host case, a ".git"
// suffix and a trailing slash do not matter; credentials are dropped.
func normalizeRepo(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(strings.TrimSuffix(raw, "/"), ".git")
	}
	return strings.ToLower(u.Host) + strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
}

// equalSecret compares in constant time (of equal-length hashes).
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return got != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
