package render_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// request renders files (path → content) at dir.
func request(name, dir string, files map[string]string) render.Request {
	req := render.Request{Name: name, Namespace: "ns", Path: dir, Revision: "0123456789abcdef", Files: map[string][]byte{}}
	for k, v := range files {
		req.Files[k] = []byte(v)
	}
	return req
}

func names(res *render.Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Object.GetKind()+"/"+o.Object.GetName()+"@"+o.Object.GetNamespace())
	}
	return out
}

func cm(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n"
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		req    render.Request
		values []string
		want   []string
	}{
		{name: "plain, multi-document, list, nested, sorted", req: request("a", "m", map[string]string{
			"m/b.yaml":      cm("b1") + "---\n# comment only\n---\n" + cm("b2"),
			"m/a/list.json": `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"l1"}}]}`,
			"m/README.md":   "not yaml",
			"m/.ci/job.yml": "stages: [build]\n",
			"other/x.yaml":  cm("outside"),
		}), want: []string{"ConfigMap/l1@", "ConfigMap/b1@", "ConfigMap/b2@"}},
		{name: "plain with harmless anchors", req: request("a", "", map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: &l {x: y}}\ndata: *l\n",
		}), want: []string{"ConfigMap/a@"}},
		{name: "kustomize with a base outside the path", req: request("a", "overlays/prod", map[string]string{
			"base/kustomization.yaml":          "resources: [cm.yaml]\n",
			"base/cm.yaml":                     cm("base"),
			"overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n",
		}), want: []string{"ConfigMap/prod-base@"}},
		{name: "helm with values files, later wins", values: []string{"a.yaml", "b.yaml"}, req: request("rel", "chart", map[string]string{
			"chart/Chart.yaml":          "apiVersion: v2\nname: c\nversion: 0.1.0\n",
			"chart/values.yaml":         "suffix: default\nother: x\n",
			"chart/a.yaml":              "suffix: a\n",
			"chart/b.yaml":              "suffix: b\n",
			"chart/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.suffix }}-{{ .Values.other }}\n  namespace: {{ .Release.Namespace }}\n",
			"chart/templates/NOTES.txt": "notes are not objects",
		}), want: []string{"ConfigMap/rel-b-x@ns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.req.ValuesFiles = tc.values
			res, err := render.Render(context.Background(), tc.req, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(res)); diff != "" {
				t.Errorf("Render() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		path   string
		values []string
		files  map[string]string
		class  error
		want   string
	}{
		{"missing path", "nope", nil, map[string]string{"a.yaml": "x: 1\n"}, errdefs.ErrNotFound, `path "nope" not found`},
		{"no kind", "", nil, map[string]string{"a.yaml": "apiVersion: v1\nmetadata: {name: x}\n"}, errdefs.ErrInvalid, "a.yaml: document 1"},
		{"no name", "", nil, map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, errdefs.ErrInvalid, "ConfigMap has no metadata.name"},
		{"generateName", "", nil, map[string]string{"a.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: j-}\n"}, errdefs.ErrInvalid, "generateName"},
		{"nothing rendered", "", nil, map[string]string{"a.yaml": "# empty\n"}, errdefs.ErrInvalid, "renders no objects"},
		{"bad kustomization", "", nil, map[string]string{"kustomization.yaml": "resources: [missing.yaml]\n"}, errdefs.ErrInvalid, "missing.yaml"},
		{"missing values file", "", []string{"prod.yaml"}, map[string]string{"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"}, errdefs.ErrInvalid, "values file prod.yaml not found"},
		{"kustomize's helm generator is off", "", nil, map[string]string{"kustomization.yaml": "helmCharts: [{name: x, repo: 'oci://r/x'}]\n"}, errdefs.ErrInvalid, "must specify --enable-helm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := request("a", tc.path, tc.files)
			req.ValuesFiles = tc.values
			_, err := render.Render(context.Background(), req, render.Options{})
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render() = %v, want %v containing %q", err, tc.class, tc.want)
			}
		})
	}
}
