package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

func renderNames(t *testing.T, app App, files map[string]string) ([]string, error) {
	t.Helper()
	src := &Source{Commit: "0123456789abcdef", Files: map[string][]byte{}}
	for k, v := range files {
		src.Files[k] = []byte(v)
	}
	rs, err := render(context.Background(), app, src, func() capabilities { return capabilities{} })
	var names []string
	for _, r := range rs {
		names = append(names, r.obj.GetKind()+"/"+r.obj.GetName()+"@"+r.obj.GetNamespace())
	}
	return names, err
}

func TestRender(t *testing.T) {
	t.Parallel()
	cm := func(name string) string { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n" }
	for _, tc := range []struct {
		name  string
		app   App
		files map[string]string
		want  []string
	}{
		{name: "plain, multi-document, list, nested, sorted", app: App{Name: "a", Path: "m", Namespace: "ns"},
			files: map[string]string{
				"m/b.yaml":      cm("b1") + "---\n# comment only\n---\n" + cm("b2"),
				"m/a/list.json": `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"l1"}}]}`,
				"m/README.md":   "not yaml",
				"m/.ci/job.yml": "stages: [build]\n",
				"other/x.yaml":  cm("outside"),
			},
			want: []string{"ConfigMap/l1@", "ConfigMap/b1@", "ConfigMap/b2@"}},
		{name: "kustomize with a base outside the path", app: App{Name: "a", Path: "overlays/prod", Namespace: "ns"},
			files: map[string]string{
				"base/kustomization.yaml":          "resources: [cm.yaml]\n",
				"base/cm.yaml":                     cm("base"),
				"overlays/prod/kustomization.yaml": "resources: [../../base]\nnamePrefix: prod-\n",
			},
			want: []string{"ConfigMap/prod-base@"}},
		{name: "helm with values files, later wins", app: App{Name: "rel", Path: "chart", Namespace: "ns", ValuesFiles: []string{"a.yaml", "b.yaml"}},
			files: map[string]string{
				"chart/Chart.yaml":          "apiVersion: v2\nname: c\nversion: 0.1.0\n",
				"chart/values.yaml":         "suffix: default\nother: x\n",
				"chart/a.yaml":              "suffix: a\n",
				"chart/b.yaml":              "suffix: b\n",
				"chart/templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.suffix }}-{{ .Values.other }}\n  namespace: {{ .Release.Namespace }}\n",
				"chart/templates/NOTES.txt": "notes are not objects",
			},
			want: []string{"ConfigMap/rel-b-x@ns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := renderNames(t, tc.app, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("render() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		app   App
		files map[string]string
		class error
		want  string
	}{
		{"missing path", App{Path: "nope"}, map[string]string{"a.yaml": "x: 1\n"}, errdefs.ErrNotFound, `path "nope" not found`},
		{"no kind", App{}, map[string]string{"a.yaml": "apiVersion: v1\nmetadata: {name: x}\n"}, errdefs.ErrInvalid, "a.yaml: document 1"},
		{"no name", App{}, map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, errdefs.ErrInvalid, "ConfigMap has no metadata.name"},
		{"generateName", App{}, map[string]string{"a.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: j-}\n"}, errdefs.ErrInvalid, "generateName"},
		{"nothing rendered", App{}, map[string]string{"a.yaml": "# empty\n"}, errdefs.ErrInvalid, "renders no objects"},
		{"bad kustomization", App{}, map[string]string{"kustomization.yaml": "resources: [missing.yaml]\n"}, errdefs.ErrInvalid, "missing.yaml"},
		{"missing values file", App{ValuesFiles: []string{"prod.yaml"}}, map[string]string{"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"}, errdefs.ErrInvalid, "values file prod.yaml not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.app.Name, tc.app.Namespace = "a", "ns"
			_, err := renderNames(t, tc.app, tc.files)
			if !errors.Is(err, tc.class) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("render() = %v, want %v containing %q", err, tc.class, tc.want)
			}
		})
	}
}
