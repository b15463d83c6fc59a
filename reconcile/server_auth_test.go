package reconcile_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

const (
	tokenA = "project-a-token-0123456789"
	tokenB = "project-b-token-0123456789"
)

// TestProjects: a project's token reads and acts only on its project's apps (403 on another's,
// for every route; 404 for an unknown app), lists only those; the admin token reaches all.
func TestProjects(t *testing.T) {
	f := newFixture(t)
	nsB := kubetest.Namespace(t, kubetest.Shared(t))
	a := f.app("a", "a")
	b := f.app("b", "b")
	b.Namespace = nsB
	f.commit(map[string]string{"a/d.yaml": deploymentYAML("a", "example.com/a:v1"), "b/d.yaml": deploymentYAML("b", "example.com/b:v1")})
	cfg := &reconcile.Config{Apps: []reconcile.App{a, b}, Projects: reconcile.Projects{
		{Name: "team-a", Namespaces: []string{f.ns}, Token: tokenA},
		{Name: "team-b", Namespaces: []string{nsB}, Token: tokenB},
	}}
	_, hs := f.serveConfig(cfg, reconcile.ServerOptions{Interval: -1})

	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, api.SyncPath("b"), `{"allowNoop":true,"wait":true}`},
		{http.MethodPost, api.RollbackPath("b"), `{"to":1}`},
		{http.MethodDelete, api.PinPath("b"), ""},
		{http.MethodGet, api.AppPath("b"), ""},
		{http.MethodGet, api.HistoryPath("b"), ""},
	} {
		code, body := call(t, tc.method, hs.URL+tc.path, tokenA, strings.NewReader(tc.body))
		if code != http.StatusForbidden || strings.Contains(string(body), "team-b") || strings.Contains(string(body), nsB) {
			t.Errorf("%s %s with A's token = %d %s; want 403 naming nothing of B", tc.method, tc.path, code, body)
		}
	}
	if code, _ := call(t, http.MethodGet, hs.URL+api.AppPath("nope"), tokenA, nil); code != http.StatusNotFound {
		t.Errorf("GET an unknown app with A's token = %d, want 404", code)
	}
	if hist, _ := f.r.History(context.Background(), "b"); len(hist) != 0 {
		t.Fatalf("A's refused requests wrote B's history: %+v", hist)
	}
	list, err := (&api.Client{URL: hs.URL, Token: tokenA}).List(context.Background(), api.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "a" || list.Items[0].Project != "team-a" {
		t.Errorf("List() with A's token = %+v, %v; want app a only", list, err)
	}
	admin := &api.Client{URL: hs.URL, Token: apiToken}
	for _, tc := range []struct {
		o    api.ListOptions
		want string
	}{
		{api.ListOptions{}, "a b"},
		{api.ListOptions{Limit: 1}, "a +"},
		{api.ListOptions{Limit: 1, Continue: "a"}, "b"},
		{api.ListOptions{Project: "team-b"}, "b"},
		{api.ListOptions{Status: "Never"}, "a b"},
		{api.ListOptions{Status: "Succeeded"}, ""},
	} {
		list, err := admin.List(context.Background(), tc.o)
		var got []string
		for _, it := range list.Items {
			got = append(got, it.Name)
		}
		if list.Continue != "" {
			got = append(got, "+")
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("List(%+v) = %v, %v; want %s", tc.o, got, err, tc.want)
		}
	}
	// (the console's pages scope the same way: TestConsoleSessionsFollowTheTokens)

	code, res := post(t, hs.URL+api.SyncPath("a"), tokenA, api.SyncRequest{Wait: true})
	if code != http.StatusOK || res.Caller == nil || res.Caller.String() != "project team-a" {
		t.Errorf("sync of a with A's token = %d %s caller %+v", code, res.Message, res.Caller)
	}
	code, res = post(t, hs.URL+api.SyncPath("b"), apiToken, api.SyncRequest{Wait: true})
	if code != http.StatusOK || res.Caller.Kind != api.CallerAdmin {
		t.Errorf("sync of b with the admin token = %d %s", code, res.Message)
	}
	if hist, _ := f.r.History(context.Background(), "a"); len(hist) != 1 || hist[0].Caller.String() != "project team-a" {
		t.Errorf("a's history = %+v, want one sync by project team-a", hist)
	}
}

// TestGitLabOIDC: GitLab CI id_tokens from a fake GitLab issuer (httptest serving the OIDC
// discovery document and the JWKS, as GitLab does at /.well-known/openid-configuration and
// /oauth/discovery/keys; no GitLab can run here). A valid token of a mapped project acts on
// that project's apps and is recorded as the caller; expired, wrong audience, wrong issuer,
// bad signature and unmapped tokens are 401; another project's token is 403.
func TestGitLabOIDC(t *testing.T) {
	f := newFixture(t)
	gl := newFakeIssuer(t)
	a := f.app("a", "a")
	f.commit(map[string]string{"a/d.yaml": deploymentYAML("a", "example.com/a:v1")})
	const aud = "https://tagrelay-reconciler.test"
	cfg := &reconcile.Config{Apps: []reconcile.App{a}, Projects: reconcile.Projects{
		{Name: "team-a", Namespaces: []string{f.ns}, GitLabProjects: []string{"team-a/*"}},
		{Name: "team-b", Namespaces: []string{"team-b"}, GitLabProjects: []string{"team-b/infra"}},
	}}
	_, hs := f.serveConfig(cfg, reconcile.ServerOptions{Interval: -1,
		GitLab: &reconcile.GitLabOIDC{URL: gl.URL, Audience: aud, HTTPClient: gl.Client()}})
	good := claims{Issuer: gl.URL, Audience: aud, Expiry: time.Now().Add(5 * time.Minute), ProjectPath: "team-a/infra", PipelineID: "4242"}

	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"expired", gl.sign(t, with(good, func(c *claims) { c.Expiry = time.Now().Add(-time.Minute) }), gl.key), http.StatusUnauthorized},
		{"wrong audience", gl.sign(t, with(good, func(c *claims) { c.Audience = "https://other.test" }), gl.key), http.StatusUnauthorized},
		{"wrong issuer", gl.sign(t, with(good, func(c *claims) { c.Issuer = "https://gitlab.evil.test" }), gl.key), http.StatusUnauthorized},
		{"bad signature", gl.sign(t, good, mustRSA(t)), http.StatusUnauthorized},
		{"unmapped project", gl.sign(t, with(good, func(c *claims) { c.ProjectPath = "team-c/infra" }), gl.key), http.StatusUnauthorized},
		{"other project", gl.sign(t, with(good, func(c *claims) { c.ProjectPath = "team-b/infra" }), gl.key), http.StatusForbidden},
	} {
		if code, res := post(t, hs.URL+api.SyncPath("a"), tc.token, api.SyncRequest{Wait: true}); code != tc.status {
			t.Errorf("%s: sync = %d %s, want %d", tc.name, code, res.Message, tc.status)
		}
	}
	if hist, _ := f.r.History(context.Background(), "a"); len(hist) != 0 {
		t.Fatalf("refused tokens synced: %+v", hist)
	}
	code, res := post(t, hs.URL+api.SyncPath("a"), gl.sign(t, good, gl.key), api.SyncRequest{Wait: true})
	if code != http.StatusOK {
		t.Fatalf("sync with a valid id_token = %d %s", code, res.Message)
	}
	hist, err := f.r.History(context.Background(), "a")
	if err != nil || len(hist) != 1 || hist[0].Caller.String() != "gitlab team-a/infra pipeline 4242" || hist[0].Caller.Project != "team-a" {
		t.Errorf("history = %+v, %v; want the sync by gitlab team-a/infra pipeline 4242", hist, err)
	}
}

// fakeIssuer is GitLab's OIDC side: its discovery document and its signing keys.
type fakeIssuer struct {
	*httptest.Server
	key *rsa.PrivateKey
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	gl := &fakeIssuer{key: mustRSA(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		// As GitLab 17 publishes it (trimmed).
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": gl.URL, "jwks_uri": gl.URL + "/oauth/discovery/keys",
			"authorization_endpoint": gl.URL + "/oauth/authorize", "token_endpoint": gl.URL + "/oauth/token",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /oauth/discovery/keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &gl.key.PublicKey, KeyID: "gitlab-key-1", Algorithm: "RS256", Use: "sig"}}})
	})
	gl.Server = httptest.NewServer(mux)
	t.Cleanup(gl.Close)
	return gl
}

// claims are those of a GitLab CI id_token.
type claims struct {
	Issuer      string    `json:"iss"`
	Audience    string    `json:"aud"`
	Expiry      time.Time `json:"-"`
	ProjectPath string    `json:"project_path"`
	PipelineID  string    `json:"pipeline_id"`
}

func with(c claims, change func(*claims)) claims {
	change(&c)
	return c
}

// sign issues a token with key under GitLab's key id.
func (gl *fakeIssuer) sign(t *testing.T, c claims, key *rsa.PrivateKey) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "gitlab-key-1"))
	if err != nil {
		t.Fatal(err)
	}
	std := jwt.Claims{Subject: "project_path:" + c.ProjectPath + ":ref_type:branch:ref:main", IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
		NotBefore: jwt.NewNumericDate(time.Now().Add(-time.Minute)), Expiry: jwt.NewNumericDate(c.Expiry)}
	token, err := jwt.Signed(signer).Claims(std).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
