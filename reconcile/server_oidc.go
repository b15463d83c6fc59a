package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// GitLab CI id_tokens let a pipeline call the API with no stored secret:
//
//	deploy:
//	  id_tokens:
//	    TAGRELAY_ID_TOKEN: {aud: https://tagrelay-reconciler.example}
//	  script: tagrelay trigger reconciler --token "$TAGRELAY_ID_TOKEN" …
//
// go-oidc checks them against the GitLab instance (--gitlab-url): discovery document, signing
// keys (JWKS, fetched and cached), issuer, audience and expiry. The project_path claim picks
// the project (Project.GitLabProjects); the caller recorded is the project path and the
// pipeline id. https://docs.gitlab.com/ci/secrets/id_token_authentication/

// GitLabOIDC configures the GitLab instance whose CI id_tokens the server accepts.
type GitLabOIDC struct {
	// URL is the GitLab instance, which is the tokens' issuer: https://gitlab.example.com.
	URL string
	// Audience is the aud claim the tokens must carry (the pipeline's id_tokens aud).
	Audience string
	// HTTPClient fetches the discovery document and the keys. Default: 10 s timeout.
	HTTPClient *http.Client
}

// gitlabClaims are the id_token claims the server reads.
// https://docs.gitlab.com/ci/secrets/id_token_authentication/#token-payload
type gitlabClaims struct {
	ProjectPath string `json:"project_path"`
	PipelineID  string `json:"pipeline_id"`
	Ref         string `json:"ref"`
}

// keyRefreshInterval bounds how often tokens the cached keys do not verify make the server
// fetch GitLab's keys again (see throttled).
const keyRefreshInterval = 10 * time.Second

// discoveryRetry is how long a failed discovery is remembered before the next try.
const discoveryRetry = 30 * time.Second

// gitlabVerifier builds the go-oidc verifier on first use (discovery needs GitLab up, the
// server does not) and keeps it.
type gitlabVerifier struct {
	cfg GitLabOIDC

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failed   time.Time
	err      error
}

func newGitLabVerifier(cfg GitLabOIDC) *gitlabVerifier {
	client := &http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	client.Transport = &throttled{next: next, last: map[string]time.Time{}}
	cfg.HTTPClient = client
	return &gitlabVerifier{cfg: cfg}
}

// oidcUnavailableError: GitLab's discovery document could not be read, so no id_token can be
// checked now (503, not 401).
type oidcUnavailableError struct{ err error }

func (e *oidcUnavailableError) Error() string {
	return "cannot check GitLab id_tokens now: " + e.err.Error()
}
func (e *oidcUnavailableError) Unwrap() error { return e.err }

func (g *gitlabVerifier) get(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.verifier != nil {
		return g.verifier, nil
	}
	if g.err != nil && time.Since(g.failed) < discoveryRetry {
		return nil, g.err
	}
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), g.cfg.HTTPClient)
	provider, err := oidc.NewProvider(ctx, g.cfg.URL)
	if err != nil {
		g.failed, g.err = time.Now(), &oidcUnavailableError{err}
		return nil, g.err
	}
	g.verifier = provider.Verifier(&oidc.Config{ClientID: g.cfg.Audience})
	return g.verifier, nil
}

// gitlabPrincipal checks an id_token and maps its project_path to exactly one project.
func (s *Server) gitlabPrincipal(ctx context.Context, token string) (*principal, error) {
	v, err := s.gitlab.get(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := v.Verify(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("%w: GitLab id_token refused: %v", errUnauthorized, err)
	}
	var c gitlabClaims
	if err := idt.Claims(&c); err != nil || c.ProjectPath == "" {
		return nil, fmt.Errorf("%w: GitLab id_token without project_path", errUnauthorized)
	}
	projects := s.current().projects.ForGitLab(c.ProjectPath)
	if len(projects) != 1 {
		return nil, fmt.Errorf("%w: GitLab project %s maps to %d projects of the reconciler, want 1", errUnauthorized, c.ProjectPath, len(projects))
	}
	p := projects[0]
	return &principal{project: p.Name, caller: &api.Caller{Kind: api.CallerGitLab, Project: p.Name, Name: c.ProjectPath, Pipeline: c.PipelineID},
		expires: idt.Expiry}, nil
}

// throttled lets a request to one URL through at most once per keyRefreshInterval; the others
// fail without reaching GitLab. go-oidc fetches the keys again for each token it cannot
// verify with the cached ones (an unknown key id, a bad signature): forged tokens must not
// turn the server into a load on GitLab.
type throttled struct {
	next http.RoundTripper

	mu   sync.Mutex
	last map[string]time.Time
}

func (t *throttled) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	u := r.URL.String()
	if at, ok := t.last[u]; ok && time.Since(at) < keyRefreshInterval {
		t.mu.Unlock()
		return nil, fmt.Errorf("not fetching %s again so soon (once per %s)", u, keyRefreshInterval)
	}
	t.last[u] = time.Now()
	t.mu.Unlock()
	return t.next.RoundTrip(r)
}
