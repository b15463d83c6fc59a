package bump

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// benchInput is a rendered chart of 300 Deployments, the size of a large plain-manifest app.
func benchInput() []byte {
	var b strings.Builder
	for i := range 300 {
		b.WriteString("---\n# Source: app/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc\n  labels: {app: svc}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: harbor.example/team/svc:v1 # keep\n          env:\n            - {name: A, value: \"1\"}\n")
		if i%2 == 0 {
			b.WriteString("        - name: proxy\n          image: envoyproxy/envoy:v1.30\n")
		}
	}
	return []byte(b.String())
}

// BenchmarkRewrite measures tagrelay's byte-splicing rewrite of a 300-document file.
func BenchmarkRewrite(b *testing.B) {
	in := benchInput()
	targets := []Target{{Image: "harbor.example/team/svc", Tag: "v2"}}
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := Rewrite("f.yaml", in, KindManifest, targets); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKyamlPipeline is the peer: the kio pipeline a kyaml-based tool (kustomize, Flux
// image automation) runs for the same edit, re-serialising every document.
func BenchmarkKyamlPipeline(b *testing.B) {
	in := benchInput()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		var out strings.Builder
		err := kio.Pipeline{
			Inputs: []kio.Reader{&kio.ByteReader{Reader: strings.NewReader(string(in))}},
			Filters: []kio.Filter{kio.FilterAll(yaml.FilterFunc(func(n *yaml.RNode) (*yaml.RNode, error) {
				cs, err := n.Pipe(yaml.Lookup("spec", "template", "spec", "containers"))
				if err != nil || cs == nil {
					return n, err
				}
				return n, cs.VisitElements(func(c *yaml.RNode) error {
					img := c.Field("image")
					if img != nil && strings.HasPrefix(yaml.GetValue(img.Value), "harbor.example/team/svc:") {
						return c.PipeE(yaml.SetField("image", yaml.NewStringRNode("harbor.example/team/svc:v2")))
					}
					return nil
				})
			}))},
			Outputs: []kio.Writer{&kio.ByteWriter{Writer: &out}},
		}.Execute()
		if err != nil {
			b.Fatal(err)
		}
	}
}
