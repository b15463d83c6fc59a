package reconcile

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Webhooks make a push visible before the next poll: the apps of the pushed repository and
// ref are polled at once (ls-remote; sync only a new commit; no no-op guard). Each forge has its
// own secret, checked before anything else is read:
//
//	POST /api/v1/webhooks/gitlab   X-Gitlab-Token: SECRET          checked before the body is read
//	POST /api/v1/webhooks/github   X-Hub-Signature-256: sha256=HMAC the body is read (bounded) to check it
//
// Deliveries for one app coalesce: while a poll of the app is pending, more deliveries add
// nothing (Server.poke), so a burst of pushes costs at most the running sync and one more.
// A delivery goes to the replica holding the pushed repository's shard (routeWebhook).
// https://docs.gitlab.com/user/project/integrations/webhooks/
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries

// maxWebhookBody bounds a push event; a larger Content-Length is refused before reading.
const maxWebhookBody = 1 << 20

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
	if !s.webhookEnabled(w, "gitlab", s.opts.GitLabWebhookSecret) {
		return
	}
	if !equalSecret(r.Header.Get("X-Gitlab-Token"), s.opts.GitLabWebhookSecret) {
		s.webhookRefused(w, "gitlab", "missing or wrong X-Gitlab-Token", "set the webhook's secret token to the reconciler's GitLab webhook secret")
		return
	}
	body, ok := s.webhookBody(w, r, "gitlab")
	if !ok || s.routeWebhook(w, r, body, func(e pushEvent) string { return e.Project.HTTPURL }) {
		return
	}
	switch r.Header.Get("X-Gitlab-Event") {
	case "Push Hook", "Tag Push Hook":
		s.handlePush(w, body, "gitlab", func(e pushEvent) string { return e.Project.HTTPURL })
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"apps": []string{}, "ignored": r.Header.Get("X-Gitlab-Event")})
	}
}

func (s *Server) handleGitHub(w http.ResponseWriter, r *http.Request) {
	if !s.webhookEnabled(w, "github", s.opts.GitHubWebhookSecret) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=") {
		s.webhookRefused(w, "github", "missing X-Hub-Signature-256", "set the webhook's secret to the reconciler's GitHub webhook secret")
		return
	}
	body, ok := s.webhookBody(w, r, "github")
	if !ok {
		return
	}
	mac := hmac.New(sha256.New, []byte(s.opts.GitHubWebhookSecret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
		s.webhookRefused(w, "github", "wrong X-Hub-Signature-256", "set the webhook's secret to the reconciler's GitHub webhook secret")
		return
	}
	if s.routeWebhook(w, r, body, func(e pushEvent) string { return e.Repository.CloneURL }) {
		return
	}
	switch r.Header.Get("X-GitHub-Event") {
	case "push":
		s.handlePush(w, body, "github", func(e pushEvent) string { return e.Repository.CloneURL })
	default: // ping and everything else
		writeJSON(w, http.StatusOK, map[string]any{"apps": []string{}, "ignored": r.Header.Get("X-GitHub-Event")})
	}
}

// webhookEnabled answers 404 when the forge's webhook has no secret.
func (s *Server) webhookEnabled(w http.ResponseWriter, forge, secret string) bool {
	if secret == "" {
		writeJSON(w, http.StatusNotFound, api.Error{Error: forge + " webhooks are not configured",
			Hint: "start serve with --" + forge + "-webhook-secret-file"})
		return false
	}
	return true
}

func (s *Server) webhookRefused(w http.ResponseWriter, forge, msg, hint string) {
	s.metrics.webhooks.WithLabelValues(forge, "unauthorized").Inc()
	s.metrics.requests.WithLabelValues("401").Inc()
	writeJSON(w, http.StatusUnauthorized, api.Error{Error: msg, Hint: hint})
}

// webhookBody reads the body, at most maxWebhookBody: a larger Content-Length is refused (413)
// before a byte of it is read.
func (s *Server) webhookBody(w http.ResponseWriter, r *http.Request, forge string) ([]byte, bool) {
	if r.ContentLength > maxWebhookBody {
		s.metrics.webhooks.WithLabelValues(forge, "too_large").Inc()
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusRequestEntityTooLarge, api.Error{Error: "webhook body over 1 MiB"})
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		code := http.StatusBadRequest
		if errors.As(err, new(*http.MaxBytesError)) {
			code = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, code, api.Error{Error: "reading the webhook: " + err.Error()})
		return nil, false
	}
	return body, true
}

// routeWebhook forwards an authenticated delivery, body included, to the holder of the shard
// of the pushed repository (all its apps are on one shard). A push of a repository no app
// uses is answered here.
func (s *Server) routeWebhook(w http.ResponseWriter, r *http.Request, body []byte, repoOf func(pushEvent) string) bool {
	var e pushEvent
	if json.Unmarshal(body, &e) != nil {
		return false // handlePush answers 400
	}
	apps := s.current().byRepo[normalizeRepo(repoOf(e))]
	if len(apps) == 0 {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return s.route(w, r, apps[0], false)
}

// handlePush wakes the poll of every app of the pushed repository whose revision is the pushed
// ref; "apps" lists them, "queued" those whose poll was not already pending.
func (s *Server) handlePush(w http.ResponseWriter, body []byte, forge string, repoOf func(pushEvent) string) {
	var e pushEvent
	if err := json.Unmarshal(body, &e); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "decoding the push event: " + err.Error()})
		return
	}
	apps, queued := []string{}, []string{}
	for _, st := range s.current().byRepo[normalizeRepo(repoOf(e))] {
		rev := st.spec().Revision
		if e.Ref != "refs/heads/"+rev && e.Ref != "refs/tags/"+rev {
			continue
		}
		apps = append(apps, st.name)
		if s.poke(st) {
			queued = append(queued, st.name)
		}
	}
	sort.Strings(apps)
	sort.Strings(queued)
	result := "matched"
	if len(apps) == 0 {
		result = "unmatched"
	}
	s.metrics.webhooks.WithLabelValues(forge, result).Inc()
	writeJSON(w, http.StatusAccepted, map[string]any{"apps": apps, "queued": queued})
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
