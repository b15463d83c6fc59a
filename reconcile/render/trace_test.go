package render_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

const podinfo = "ghcr.io/stefanprodan/podinfo"

// overrides reads testdata/overrides, the podinfo-shaped repository whose bumps do not all
// reach the render.
func overrides(t testing.TB) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	root := os.DirFS("testdata/overrides")
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files[p], err = fs.ReadFile(root, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTraceImage: for each way a tag is overridden, the render runs the overriding tag and the
// trace names the file and key it comes from, after the inputs it wins over.
func TestTraceImage(t *testing.T) {
	t.Parallel()
	files := overrides(t)
	for _, tc := range []struct {
		name    string
		req     render.Request
		running string
		chain   []string
		winner  string
	}{
		{name: "later values file", req: render.Request{Path: "charts/podinfo", ValuesFiles: []string{"values-prod.yaml"}},
			running: podinfo + ":6.14.1",
			chain:   []string{"charts/podinfo/Chart.yaml appVersion (6.14.0)", "charts/podinfo/values.yaml image.tag (6.14.0)", "charts/podinfo/values-prod.yaml image.tag (6.14.1)"},
			winner:  "charts/podinfo/values-prod.yaml image.tag (6.14.1)"},
		{name: "set", req: render.Request{Path: "charts/podinfo", Set: []string{"image.tag=6.13.0"}},
			running: podinfo + ":6.13.0",
			chain:   []string{"charts/podinfo/Chart.yaml appVersion (6.14.0)", "charts/podinfo/values.yaml image.tag (6.14.0)", "set image.tag=6.13.0 (6.13.0)"},
			winner:  "set image.tag=6.13.0 (6.13.0)"},
		{name: "overlay images", req: render.Request{Path: "kustomize/overlays/prod"},
			running: podinfo + ":6.14.1",
			chain:   []string{"kustomize/base/deployment.yaml line 16 (6.14.0)", "kustomize/overlays/prod/kustomization.yaml images[name=ghcr.io/stefanprodan/podinfo].newTag (6.14.1)"},
			winner:  "kustomize/overlays/prod/kustomization.yaml images[name=ghcr.io/stefanprodan/podinfo].newTag (6.14.1)"},
		{name: "hard-coded template", req: render.Request{Path: "charts/hardcoded"},
			running: podinfo + ":6.0.0",
			chain:   []string{"charts/hardcoded/Chart.yaml appVersion (6.14.0)", "charts/hardcoded/values.yaml image.tag (6.14.0)", "charts/hardcoded/templates/deployment.yaml line 16 (6.0.0)"},
			winner:  "charts/hardcoded/templates/deployment.yaml line 16 (6.0.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := tc.req
			req.Name, req.Namespace, req.Files = "podinfo", "ns", files
			res, err := render.Render(context.Background(), req, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			tr := render.TraceImage(req, res, podinfo)
			if len(tr.Running) != 1 || tr.Running[0].Image != tc.running {
				t.Fatalf("running %+v, want %s", tr.Running, tc.running)
			}
			var chain []string
			for _, o := range tr.Chain {
				chain = append(chain, o.String())
			}
			if diff := cmp.Diff(tc.chain, chain); diff != "" {
				t.Errorf("chain (-want +got):\n%s", diff)
			}
			w, ok := tr.Winner()
			if !ok || w.String() != tc.winner {
				t.Errorf("winner %v (%v), want %s", w, ok, tc.winner)
			}
		})
	}
}

// TestRenderUnsupported: a chart whose dependencies are not vendored names each one with its
// repository and what to do; a Jsonnet-only path says Jsonnet is not supported.
func TestRenderUnsupported(t *testing.T) {
	t.Parallel()
	files := overrides(t)
	for _, tc := range []struct {
		name, path string
		class      error
		want       []string
	}{
		{"unvendored dependencies", "charts/deps", errdefs.ErrPrecondition, []string{
			"charts/deps/Chart.yaml: chart deps has 2 dependencies not vendored in charts/",
			`redis 17.x.x from "https://charts.bitnami.com/bitnami" (host charts.bitnami.com is not in the app's allowedHosts)`,
			`postgresql 12.1.0 from "oci://registry-1.docker.io/bitnamicharts" (OCI, never fetched)`,
			"run helm dependency build and commit charts/",
		}},
		{"jsonnet", "jsonnet", errdefs.ErrInvalid, []string{"the path holds Jsonnet (jsonnet/main.jsonnet), which is not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render.Render(context.Background(), render.Request{Name: "x", Namespace: "ns", Files: files, Path: tc.path}, render.Options{})
			if !errors.Is(err, tc.class) {
				t.Fatalf("error %v, want class %v", err, tc.class)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
