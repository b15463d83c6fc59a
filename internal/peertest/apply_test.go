package peertest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/peertest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestApplyFiles: a CRD and an object of its kind in one file (the CRD is established before the
// object is applied), and a namespaced object without a namespace lands in the given one.
func TestApplyFiles(t *testing.T) {
	c := kubetest.Shared(t)
	ns := kubetest.Namespace(t, c)
	f := filepath.Join(t.TempDir(), "objs.yaml")
	if err := os.WriteFile(f, []byte(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.peertest.example}
spec:
  group: peertest.example
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: peertest.example/v1
kind: Widget
metadata: {name: w}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {k: v}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := peertest.ApplyFiles(ctx, c.RESTConfig(), ns, f); err != nil {
		t.Fatalf("ApplyFiles() = %v", err)
	}
	if err := peertest.ApplyFiles(ctx, c.RESTConfig(), ns, f); err != nil {
		t.Fatalf("ApplyFiles() again = %v, want idempotent", err)
	}
	gvr := schema.GroupVersionResource{Group: "peertest.example", Version: "v1", Resource: "widgets"}
	w, err := dynamic.NewForConfigOrDie(c.RESTConfig()).Resource(gvr).Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	if err != nil || w.Object["spec"].(map[string]any)["size"] != int64(3) {
		t.Errorf("Widget w = %v, %v; want size 3", w, err)
	}
	if _, err := kubernetes.NewForConfigOrDie(c.RESTConfig()).CoreV1().ConfigMaps(ns).Get(ctx, "cm", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap cm in %s: %v", ns, err)
	}
}
