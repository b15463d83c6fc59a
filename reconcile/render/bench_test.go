package render_test

import (
	"context"
	"fmt"
	"path"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/tagrelay/tagrelay/reconcile/render"
)

// overlay is a Kustomize overlay over a base of n Deployments, with anchors in its patch.
func overlay(n int) map[string]string {
	files := map[string]string{
		"overlay/kustomization.yaml": "resources: [../base]\nnamePrefix: prod-\npatches:\n- path: patch.yaml\n  target: {kind: Deployment}\n",
		"overlay/patch.yaml":         "- op: add\n  path: /metadata/labels\n  value: &l {tier: web, env: prod}\n- op: add\n  path: /metadata/annotations\n  value: *l\n",
	}
	base := "resources:\n"
	for i := range n {
		name := fmt.Sprintf("d%d.yaml", i)
		base += "- " + name + "\n"
		files["base/"+name] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web%d}\nspec:\n  selector: {matchLabels: {app: web%d}}\n"+
			"  template:\n    metadata: {labels: {app: web%d}}\n    spec: {containers: [{name: web, image: example.com/web:v1}]}\n", i, i, i)
	}
	files["base/kustomization.yaml"] = base
	return files
}

// BenchmarkKustomize compares a render (alias check of every file krusty reads, remote checks,
// limits, decoding) with krusty alone on the same overlay of 100 Deployments:
// go test ./reconcile/render -run ^$ -bench Kustomize.
func BenchmarkKustomize(b *testing.B) {
	files := overlay(100)
	b.Run("render", func(b *testing.B) {
		req := request("web", "overlay", files)
		for b.Loop() {
			if _, err := render.Render(context.Background(), req, render.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("krusty", func(b *testing.B) {
		for b.Loop() {
			fs := filesys.MakeFsInMemory()
			for name, data := range files {
				if err := fs.WriteFile(path.Join("/", name), []byte(data)); err != nil {
					b.Fatal(err)
				}
			}
			m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/overlay")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.AsYaml(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHelm measures what the template worker costs against Helm's engine in-process, on a
// chart of 20 templates: go test ./reconcile/render -run ^$ -bench Helm.
func BenchmarkHelm(b *testing.B) {
	files := map[string]string{"Chart.yaml": chartYAML, "values.yaml": "image: example.com/web:v1\nreplicas: 2\n"}
	for i := range 20 {
		files[fmt.Sprintf("templates/d%d.yaml", i)] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '{{ .Release.Name }}-%d'}\n"+
			"spec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: w%d}}\n  template:\n    metadata: {labels: {app: w%d}}\n"+
			"    spec: {containers: [{name: web, image: '{{ .Values.image }}'}]}\n", i, i, i)
	}
	req := request("web", "", files)
	for _, tc := range []struct {
		name string
		opts render.Options
	}{{"in-process", render.Options{}}, {"worker", isolated(b, render.Limits{}, 0)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := render.Render(context.Background(), req, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
