package reconcile

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Who may do what:
//
//	admin token (--token-file)        every app
//	a project's token (tokenFile)     the apps in the project's namespaces
//	a GitLab CI id_token (JWT)        the apps of the project whose gitlabProjects match its project_path
//
// A wrong or missing token is 401, an app of another project 403 (the answer names neither
// that project nor anything of the app), an unknown app 404.

// principal is an authenticated caller.
type principal struct {
	caller *api.Caller
	// project is the project the caller acts for; "" for the admin.
	project string
	// expires is when a GitLab id_token expires; zero for the other tokens.
	expires time.Time
}

// may reports whether p may read and act on the app.
func (p *principal) may(st *appState) bool {
	if p.project == "" {
		return true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return p.project == st.project
}

// errUnauthorized: no token, or one that is none of the server's.
var errUnauthorized = errors.New("missing or wrong bearer token")

// authenticate finds who sent r: the admin, a project by its token, or a GitLab pipeline by its
// id_token. Every token is compared in constant time.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, errUnauthorized
	}
	return s.authenticateToken(r.Context(), token)
}

// authenticateToken finds whose token it is (see authenticate); the console's login uses it too.
func (s *Server) authenticateToken(ctx context.Context, token string) (*principal, error) {
	if token == "" {
		return nil, errUnauthorized
	}
	var found *principal
	if equalSecret(token, s.opts.Token) {
		found = &principal{caller: &api.Caller{Kind: api.CallerAdmin}}
	}
	for _, p := range s.current().projects {
		if p.Token != "" && equalSecret(token, p.Token) && found == nil {
			found = &principal{caller: &api.Caller{Kind: api.CallerProject, Project: p.Name}, project: p.Name}
		}
	}
	if found != nil {
		return found, nil
	}
	if s.gitlab != nil && looksLikeJWT(token) {
		return s.gitlabPrincipal(ctx, token)
	}
	return nil, errUnauthorized
}

// authed wraps a handler that needs a caller. A request a follower forwarded is checked again
// here: the leader trusts no replica's word for who is calling.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		var unavailable *oidcUnavailableError
		switch {
		case errors.As(err, &unavailable):
			writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: err.Error(), Hint: "check --gitlab-url and that GitLab is reachable from the reconciler"})
		case err != nil:
			s.metrics.requests.WithLabelValues("401").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="tagrelay-reconciler"`)
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: err.Error(),
				Hint: "send Authorization: Bearer TOKEN with the admin token, your project's token or a GitLab CI id_token"})
		default:
			h(w, r, p)
		}
	})
}

// appFor returns the app named in the path if p may see it; otherwise it answers 404 (no such
// app) or 403 (another project's) and returns nil.
func (s *Server) appFor(w http.ResponseWriter, r *http.Request, p *principal) *appState {
	st := s.app(r.PathValue("name"))
	switch {
	case st == nil:
		s.metrics.requests.WithLabelValues("404").Inc()
		writeJSON(w, http.StatusNotFound, api.Error{Error: fmt.Sprintf("no app %q", r.PathValue("name")),
			Hint: "GET /api/v1/apps lists the apps"})
	case !p.may(st):
		s.metrics.requests.WithLabelValues("403").Inc()
		writeJSON(w, http.StatusForbidden, api.Error{Error: fmt.Sprintf("app %q is not in project %s", st.name, p.project),
			Hint: "a project's token acts on the apps in its project's namespaces only"})
		st = nil
	}
	return st
}

// looksLikeJWT: three base64url parts, the first a JSON object ("eyJ" is `{"`).
func looksLikeJWT(token string) bool {
	return strings.HasPrefix(token, "eyJ") && strings.Count(token, ".") == 2
}

// equalSecret compares in constant time (of equal-length hashes).
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return got != "" && want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
