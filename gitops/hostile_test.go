package gitops_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/exitcode"
)

// endless answers 200 with a body that never ends (a hostile or broken server): the clients must
// stop at their bound instead of reading it all.
func endless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	chunk := []byte(`{"a":"` + strings.Repeat("x", 1<<16) + `",`)
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// TestHostileServers: answers without end from Argo CD or from a Kubernetes API server stop the
// trigger at the 32 MiB bound with exit 1; a server that echoes the token in its error does not
// put the token in the error.
func TestHostileServers(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token-value-0123456789"
	t.Run("argocd endless answer", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(endless))
		t.Cleanup(srv.Close)
		argo, err := gitops.NewArgoCD(srv.URL, token, gitops.WithRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		_, err = argo.Sync(ctxFor(t, time.Minute), "web", gitops.SyncOptions{})
		wantErr(t, err, nil, exitcode.Failure, "answer larger than 32 MiB")
	})
	t.Run("argocd echoes the token", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":16,"message":"bad token: ` + r.Header.Get("Authorization") + `"}`))
		}))
		t.Cleanup(srv.Close)
		argo, err := gitops.NewArgoCD(srv.URL, token)
		if err != nil {
			t.Fatal(err)
		}
		_, err = argo.Sync(ctxFor(t, time.Minute), "web", gitops.SyncOptions{})
		wantErr(t, err, gitops.ErrUnauthorized, exitcode.Failure, "Argo CD refused the token", "[REDACTED]")
		if strings.Contains(err.Error(), token) {
			t.Errorf("error shows the token: %v", err)
		}
	})
	t.Run("kubernetes endless answer", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(endless))
		t.Cleanup(srv.Close)
		f, err := gitops.NewFlux(&gitops.KubeConfig{Server: srv.URL, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Reconcile(ctxFor(t, time.Minute), gitops.ObjectRef{Namespace: "apps", Name: "web"}, gitops.ReconcileOptions{})
		wantErr(t, err, nil, exitcode.Failure, "answer larger than 32 MiB")
	})
}

// TestLoadKubeconfig: the current context of merged files, relative paths, and the inputs that
// are refused (exit 2) with what to do.
func TestLoadKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("token", "tok-from-file\n")
	first := write("a.yaml", `apiVersion: v1
kind: Config
current-context: ci
contexts:
- name: ci
  context: {cluster: prod, user: ci}
- name: plugin
  context: {cluster: prod, user: sso}
users:
- name: ci
  user: {tokenFile: token}
- name: sso
  user: {exec: {command: kubelogin}}
`)
	second := write("b.yaml", `clusters:
- name: prod
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
current-context: other
`)
	cfg, err := gitops.LoadKubeconfig([]string{first, filepath.Join(dir, "absent.yaml"), second}, "")
	if err != nil {
		t.Fatalf("LoadKubeconfig() = %v", err)
	}
	if cfg.Server != "https://10.0.0.1:6443" || cfg.Token != "tok-from-file" || !cfg.Insecure {
		t.Errorf("LoadKubeconfig() = server %s, token %q, insecure %v; want https://10.0.0.1:6443, tok-from-file, true", cfg.Server, cfg.Token, cfg.Insecure)
	}
	for _, tc := range []struct {
		files   []string
		context string
		want    string
	}{
		{[]string{first, second}, "plugin", "uses a credential plugin"},
		{[]string{first, second}, "nope", `no context "nope"`},
		{[]string{first}, "", `names cluster "prod", which it does not define`},
		{[]string{filepath.Join(dir, "absent.yaml")}, "", "reading kubeconfig"},
		{[]string{write("bad.yaml", "clusters: {")}, "", "parsing kubeconfig"},
	} {
		_, err := gitops.LoadKubeconfig(tc.files, tc.context)
		if exitcode.Code(err) != exitcode.Usage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKubeconfig(%v, %q) = %v, want a usage error containing %q", tc.files, tc.context, err, tc.want)
		}
	}
}
