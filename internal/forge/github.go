package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-github/v57/github"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// GitHub calls the GitHub REST API of github.com or of a GitHub Enterprise Server.
type GitHub struct {
	client *github.Client
	base   string
	log    *slog.Logger
}

// NewGitHub returns a client of the GitHub API at baseURL ("" or https://api.github.com for
// github.com; https://ghes.example.com for an Enterprise Server, /api/v3 optional) that sends
// token as a bearer token (GITHUB_TOKEN, a fine-grained or classic PAT, an app token).
func NewGitHub(baseURL, token string, opts ...Option) (*GitHub, error) {
	o := makeOptions(opts)
	c := github.NewClient(o.httpClient())
	if token != "" {
		c = c.WithAuthToken(token)
	}
	c.UserAgent = userAgent
	if baseURL = strings.TrimSpace(baseURL); baseURL != "" && !isGitHubCom(baseURL) {
		var err error
		if c, err = c.WithEnterpriseURLs(baseURL, baseURL); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("GitHub URL %q: %w", baseURL, err))
		}
	}
	return &GitHub{client: c, base: strings.TrimSuffix(c.BaseURL.String(), "/"), log: o.logger}, nil
}

func isGitHubCom(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Host == "api.github.com" || u.Host == "github.com")
}

// splitRepo splits OWNER/NAME.
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(strings.Trim(repo, "/"), "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", errdefs.WithHint(errdefs.Invalid(fmt.Errorf("repository %q is not OWNER/NAME", repo)), "name it as OWNER/NAME, e.g. octo-org/app")
	}
	return owner, name, nil
}

// DispatchEvent sends a repository_dispatch event of type eventType with payload as
// client_payload. GitHub starts every workflow listening to it; none is followed.
// https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event
func (g *GitHub) DispatchEvent(ctx context.Context, repo, eventType string, payload map[string]string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	opts := github.DispatchRequestOptions{EventType: eventType}
	if len(payload) > 0 {
		raw, err := json.Marshal(payload)
		if err != nil {
			return errdefs.Invalid(fmt.Errorf("encoding the payload: %w", err))
		}
		msg := json.RawMessage(raw)
		opts.ClientPayload = &msg
	}
	if _, _, err := g.client.Repositories.Dispatch(ctx, owner, name, opts); err != nil {
		return g.apiError(fmt.Sprintf("sending %s event to %s", eventType, repo), err)
	}
	return nil
}

// apiError turns a go-github error into a *Error that says what failed and what it means.
// go-github's messages carry the request URL (never a token: it travels in the Authorization
// header).
func (g *GitHub) apiError(doing string, err error) error {
	var rate *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &rate) || errors.As(err, &abuse) {
		return apiErr(http.StatusTooManyRequests, errdefs.WithHint(errdefs.Unavailable(fmt.Errorf("%s: %w", doing, err)),
			"GitHub rate limit; retry later or use a token with a higher limit"))
	}
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil {
		code := resp.Response.StatusCode
		return apiErr(code, statusError(fmt.Errorf("%s: GitHub answered %s: %s", doing, resp.Response.Status, resp.Message), code))
	}
	return unanswered("GitHub", g.base, doing, err)
}

// statusError classifies an answer of GitHub's and says what it means.
func statusError(msg error, code int) error {
	switch {
	case code == http.StatusUnauthorized:
		return errdefs.WithHint(msg, "the token is invalid, expired or revoked")
	case code == http.StatusForbidden:
		return errdefs.WithHint(msg, "the token lacks permission: it needs actions:write (and contents:write for repository_dispatch)")
	case code == http.StatusNotFound:
		return errdefs.WithHint(errdefs.NotFound(msg), "check the repository and the workflow, and that the token can see the repository")
	case code == http.StatusUnprocessableEntity:
		return errdefs.WithHint(errdefs.Invalid(msg), "check the ref and the inputs against the workflow's on.workflow_dispatch")
	case code >= 500:
		return errdefs.Unavailable(msg)
	}
	return msg
}
