package render_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// server serves files by path and counts the connections made to it (not only the requests:
// a refused reference must not even connect).
type server struct {
	*httptest.Server
	conns atomic.Int64
	files map[string][]byte
}

func newServer(t *testing.T, files map[string][]byte) *server {
	t.Helper()
	s := &server{files: files}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) host() string { return strings.TrimPrefix(s.URL, "http://") }

// TestRemoteRefused: every remote form Kustomize or Helm would fetch is refused before any
// connection unless its host is allowed; the error names the file and the reference.
func TestRemoteRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t, map[string][]byte{"/evil.yaml": []byte(cm("evil"))})
	url := s.URL + "/evil.yaml"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"an http resource", map[string]string{"kustomization.yaml": "resources:\n- " + url + "\n"},
			"kustomization.yaml: resources " + url + ": host " + s.host() + " is not in the app's allowedHosts"},
		{"a git base", map[string]string{"kustomization.yaml": "resources: ['" + s.URL + "/org/repo//base?ref=v1']\n"}, "is not in the app's allowedHosts"},
		{"a github shorthand", map[string]string{"kustomization.yaml": "resources: [github.com/org/repo/base]\n"}, "only http(s) remotes can be allowed"},
		{"an ssh base", map[string]string{"kustomization.yaml": "components: ['git@gitlab.example:org/repo.git']\n"}, "components git@gitlab.example:org/repo.git"},
		{"a file:// base (the reconciler's own disk)", map[string]string{"kustomization.yaml": "resources: ['file:///var/cache/tagrelay/x.git']\n"}, "only http(s) remotes"},
		{"a base of a base", map[string]string{"app/kustomization.yaml": "resources: [../base]\n", "base/kustomization.yaml": "resources: [" + url + "]\n"},
			"base/kustomization.yaml: resources " + url},
		{"a patch file", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: '" + url + "'}]\n", "cm.yaml": cm("a")},
			"patches.path " + url + ": remote files are not fetched"},
		{"a generator's file", map[string]string{"kustomization.yaml": "configMapGenerator: [{name: g, files: ['k=" + url + "']}]\n"}, "configMapGenerator.files k=" + url},
		{"a transformer configuration", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\ntransformers: [t.yaml]\n", "cm.yaml": cm("a"),
			"t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + url + "\n"}, "t.yaml: plugin configuration.path " + url},
		{"an inline transformer", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- |-\n  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: p}\n  path: " + url + "\n", "cm.yaml": cm("a")},
			"plugin configuration.path " + url},
		{"openapi", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nopenapi: {path: '" + url + "'}\n", "cm.yaml": cm("a")}, "openapi.path"},
		{"a helm dependency", map[string]string{"Chart.yaml": chartYAML + "dependencies: [{name: dep, version: 1.0.0, repository: '" + s.URL + "/charts'}]\n", "templates/a.yaml": cm("a")},
			"Chart.yaml: chart c has 1 dependency not vendored in charts/: dep 1.0.0 from \"" + s.URL + "/charts\" (host " + s.host() + " is not in the app's allowedHosts)"},
		{"an OCI helm dependency", map[string]string{"Chart.yaml": chartYAML + "dependencies: [{name: dep, version: 1.0.0, repository: 'oci://" + s.host() + "/charts'}]\n", "templates/a.yaml": cm("a")},
			"(OCI, never fetched); run helm dependency build and commit charts/"},
		{"a dependency not vendored", map[string]string{"Chart.yaml": chartYAML + "dependencies: [{name: dep, version: 1.0.0, repository: 'file://../dep'}]\n", "templates/a.yaml": cm("a")},
			"only http(s) remotes can be allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := ""
			if _, ok := tc.files["app/kustomization.yaml"]; ok {
				dir = "app"
			}
			_, err := render.Render(context.Background(), request("r", dir, tc.files), render.Options{})
			if !errors.Is(err, render.ErrRemote) || !errors.Is(err, errdefs.ErrPrecondition) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render() = %v, want ErrRemote containing %q", err, tc.want)
			}
		})
	}
	if n := s.conns.Load(); n != 0 {
		t.Errorf("the server saw %d connections, want none", n)
	}
}

// TestRemoteAllowed: a remote resource and a chart dependency from an allowed host render; a
// redirect off the allowed hosts is refused.
func TestRemoteAllowed(t *testing.T) {
	t.Parallel()
	tgz := chartArchive(t, "dep", map[string]string{"Chart.yaml": "apiVersion: v2\nname: dep\nversion: 1.2.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-dep'}\n"})
	sum := sha256.Sum256(tgz)
	other := newServer(t, map[string][]byte{"/x.yaml": []byte(cm("elsewhere"))})
	s := newServer(t, map[string][]byte{"/remote.yaml": []byte(cm("remote"))})
	s.files["/charts/index.yaml"] = []byte("apiVersion: v1\nentries:\n  dep:\n  - {version: 1.2.0, urls: [dep-1.2.0.tgz], digest: " + hex.EncodeToString(sum[:]) + "}\n  - {version: 2.0.0, urls: [dep-2.0.0.tgz]}\n")
	s.files["/charts/dep-1.2.0.tgz"] = tgz
	s.Config.Handler = redirecting(s, other.URL+"/x.yaml")
	opts := render.Options{Limits: render.Limits{AllowedHosts: []string{"127.0.0.1"}}}

	res, err := render.Render(context.Background(), request("r", "", map[string]string{
		"kustomization.yaml": "resources: [" + s.URL + "/remote.yaml, cm.yaml]\n", "cm.yaml": cm("local")}), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/remote@", "ConfigMap/local@"}, names(res)); diff != "" {
		t.Errorf("kustomize with a remote resource (-want +got):\n%s", diff)
	}

	res, err = render.Render(context.Background(), request("rel", "", map[string]string{
		"Chart.yaml":        chartYAML + "dependencies: [{name: dep, version: '^1.0.0', repository: '" + s.URL + "/charts/'}]\n",
		"templates/cm.yaml": cm("parent")}), opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/rel-dep@", "ConfigMap/parent@"}, names(res)); diff != "" {
		t.Errorf("helm with a fetched dependency (-want +got):\n%s", diff)
	}

	only := render.Options{Limits: render.Limits{AllowedHosts: []string{s.host()}}}
	_, err = render.Render(context.Background(), request("r", "", map[string]string{"kustomization.yaml": "resources: [" + s.URL + "/redirect]\n"}), only)
	if err == nil || !strings.Contains(err.Error(), "redirect to "+other.host()+": host not in the app's allowedHosts") {
		t.Errorf("Render() of a redirect off the allowed host = %v", err)
	}
	if n := other.conns.Load(); n != 0 {
		t.Errorf("the redirect target saw %d connections, want none", n)
	}
}

func redirecting(s *server, to string) http.Handler {
	next := s.Config.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// chartArchive packs files as the chart archive NAME-VERSION.tgz does: below a NAME/ directory.
func chartArchive(t *testing.T, name string, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for p, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + p, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRemoteGitBase: a git base on an allowed host is fetched with Options.Git (the reconciler
// passes its git fetcher, with deadlines) and built from the fetched files.
func TestRemoteGitBase(t *testing.T) {
	t.Parallel()
	var asked []string
	git := func(_ context.Context, repo, ref string) (map[string][]byte, error) {
		asked = append(asked, repo+"@"+ref)
		return map[string][]byte{"base/kustomization.yaml": []byte("resources: [cm.yaml]\n"), "base/cm.yaml": []byte(cm("from-git"))}, nil
	}
	opts := render.Options{Limits: render.Limits{AllowedHosts: []string{"git.example"}}, Git: git}
	for ref, want := range map[string]string{
		"https://git.example/org/infra.git//base?ref=v1": "https://git.example/org/infra.git@v1",
		"https://git.example/org/infra/base?ref=main":    "https://git.example/org/infra@main",
		"https://git.example/tfs/_git/infra/base":        "https://git.example/tfs/_git/infra@",
	} {
		asked = nil
		res, err := render.Render(context.Background(), request("r", "overlay", map[string]string{
			"overlay/kustomization.yaml": "resources: ['" + ref + "']\nnamePrefix: p-\n"}), opts)
		if err != nil {
			t.Fatalf("Render(%s) = %v", ref, err)
		}
		if diff := cmp.Diff([]string{"ConfigMap/p-from-git@"}, names(res)); diff != "" || len(asked) != 1 || asked[0] != want {
			t.Errorf("Render(%s): fetched %v, want [%s]; objects (-want +got):\n%s", ref, asked, want, diff)
		}
	}
}
