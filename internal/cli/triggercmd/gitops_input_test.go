package triggercmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
)

// recorder is a server that counts the requests it gets: bad input must be refused before any.
func recorder(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTriggerArgoCDInputErrors: bad input exits 2 with one line naming it, before any request
// reaches Argo CD, and the token never shows.
func TestTriggerArgoCDInputErrors(t *testing.T) {
	t.Parallel()
	srv, requests := recorder(t)
	token := writeFile(t, "token", "argo-s3cret-token-value\n")
	ok := []string{"--server", srv.URL, "--app", "web", "--token-file", token}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no server", []string{"--app", "web", "--token-file", token}, "no Argo CD server given"},
		{"bad server", []string{"--server", "ftp://argocd", "--app", "web", "--token-file", token}, "invalid Argo CD server"},
		{"credentials in the server URL", []string{"--server", "https://admin:argo-s3cret-token-value@argocd", "--app", "web", "--token-file", token}, "without credentials"},
		{"no app", []string{"--server", srv.URL, "--token-file", token}, "no Argo CD application given"},
		{"no token", []string{"--server", srv.URL, "--app", "web"}, "no Argo CD token"},
		{"missing token file", []string{"--server", srv.URL, "--app", "web", "--token-file", token + ".nope"}, "reading secret file"},
		{"image without a tag", append(ok, "--expect-image", "example.com/web"), `invalid image "example.com/web"`},
		{"bad timeout", append(ok, "--timeout", "soon"), "invalid value"},
		{"stray argument", append(ok, "web"), `unexpected argument "web"`},
		{"missing CA file", append(ok, "--ca-file", token+".pem"), "reading CA file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append([]string{"trigger", "argocd"}, tc.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("trigger argocd %v = exit %d, stderr %q; want exit 2, one line containing %q", tc.args, r.Code, r.Stderr, tc.want)
			}
			clitest.AssertNoSecrets(t, r, "argo-s3cret-token-value")
		})
	}
	t.Cleanup(func() {
		if n := requests.Load(); n != 0 {
			t.Errorf("Argo CD got %d requests for bad input, want none", n)
		}
	})
}

// TestTriggerFluxInputErrors: the same for trigger flux, with the kubeconfig's server counting
// requests.
func TestTriggerFluxInputErrors(t *testing.T) {
	t.Parallel()
	srv, requests := recorder(t)
	kc := writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
current-context: ci
clusters:
- {name: c, cluster: {server: "`+srv.URL+`"}}
users:
- {name: ci, user: {token: kube-s3cret-token-value}}
- {name: sso, user: {exec: {command: kubelogin}}}
contexts:
- {name: ci, context: {cluster: c, user: ci}}
- {name: sso, context: {cluster: c, user: sso}}
`)
	ok := []string{"--kubeconfig", kc, "--kustomization", "apps/web"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no kustomization", []string{"--kubeconfig", kc}, "no Flux Kustomization given"},
		{"kustomization without namespace", []string{"--kubeconfig", kc, "--kustomization", "web"}, `invalid Kustomization "web"`},
		{"unknown source kind", append(ok, "--source", "HelmRepository/apps/charts"), `invalid source kind "HelmRepository"`},
		{"image without a tag", append(ok, "--expect-image", "example.com/web"), `invalid image "example.com/web"`},
		{"missing kubeconfig", []string{"--kubeconfig", kc + ".nope", "--kustomization", "apps/web"}, "reading kubeconfig"},
		{"unknown context", append(ok, "--context", "prod"), `no context "prod"`},
		{"credential plugin", append(ok, "--context", "sso"), "credential plugin"},
		{"zero poll interval", append(ok, "--poll-interval", "0s"), "invalid --poll-interval"},
		{"stray argument", append(ok, "apps/web"), `unexpected argument "apps/web"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append([]string{"trigger", "flux"}, tc.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("trigger flux %v = exit %d, stderr %q; want exit 2, one line containing %q", tc.args, r.Code, r.Stderr, tc.want)
			}
			clitest.AssertNoSecrets(t, r, "kube-s3cret-token-value")
		})
	}
	t.Cleanup(func() {
		if n := requests.Load(); n != 0 {
			t.Errorf("the Kubernetes API got %d requests for bad input, want none", n)
		}
	})
}
