package fluxtest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

func TestMain(m *testing.M) { Main(m) }

// TestReconcile shows the controllers are real and working: a GitRepository on a smart-HTTP
// repository and a Kustomization of it reconcile a Deployment that rolls out on the kwok node,
// and the Kustomization reports the commit it applied.
func TestReconcile(t *testing.T) {
	f := Shared(t)
	ns := kubetest.Namespace(t, f.Cluster)
	git := gittest.New(t)
	url := git.MustCreateRepo(t, "infra.git")
	commit := git.MustCommit(t, "infra.git", "main", "web v1", map[string]string{
		"app/web.yaml": kubetest.DeploymentYAML("web", "example.com/web:v1", 1),
	})
	ctx := context.Background()
	if err := f.Apply(ctx, GitRepository(ns, "infra", url, "main", time.Hour),
		Kustomization(ns, "web", "infra", "./app", time.Hour)); err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(f.Cluster.RESTConfig())
	ks := dyn.Resource(schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}).Namespace(ns)
	want := "main@sha1:" + commit
	var applied, ready string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := ks.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		applied, _, _ = unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
		ready = readyCondition(u)
		return applied == want && ready == "True", f.Exited()
	})
	if err != nil {
		t.Fatalf("Kustomization web: lastAppliedRevision %q, Ready %s (%v); want %q and Ready True", applied, ready, err, want)
	}
	cs := kubernetes.NewForConfigOrDie(f.Cluster.RESTConfig())
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == 1 &&
			kubetest.Image(d.Spec.Template.Spec) == "example.com/web:v1", nil
	})
	if err != nil {
		t.Fatalf("Deployment web applied by Flux never rolled out: %v", err)
	}
	// notification-controller's webhook receiver answers (404 for an unknown hook path).
	resp, err := http.Get(f.ReceiverURL + "/hook/unknown")
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s/hook/unknown = %s, want 404", f.ReceiverURL, resp.Status)
	}
	for _, p := range f.Processes() {
		if rss, err := p.RSS(); err == nil {
			t.Logf("%s RSS %d MiB", p.Name, rss>>20)
		}
	}
}

func readyCondition(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if c, ok := c.(map[string]any); ok && c["type"] == "Ready" {
			return fmt.Sprint(c["status"])
		}
	}
	return ""
}
