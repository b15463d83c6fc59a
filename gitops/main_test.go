package gitops_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/argocdtest"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/fluxtest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// One cluster, one Flux and one Argo CD for the whole package, each started on first use.
func TestMain(m *testing.M) {
	code := kubetest.Run(m)
	fluxtest.StopShared(code != 0)
	argocdtest.StopShared(code != 0)
	os.Exit(code)
}

func mustImages(t testing.TB, refs ...string) []gitops.Image {
	t.Helper()
	var out []gitops.Image
	for _, r := range refs {
		img, err := gitops.ParseImage(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// ctxFor bounds a trigger in a test.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// deployment reads Deployment web of ns.
func deployment(t testing.TB, c *kubetest.Cluster, ns string) *appsv1.Deployment {
	t.Helper()
	d, err := kubernetes.NewForConfigOrDie(c.RESTConfig()).AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// podUIDs returns the UIDs of the pods of ns.
func podUIDs(t testing.TB, c *kubetest.Cluster, ns string) []string {
	t.Helper()
	list, err := kubernetes.NewForConfigOrDie(c.RESTConfig()).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, string(p.UID))
	}
	return out
}

// wantErr checks an error's sentinel, exit code and message fragments.
func wantErr(t *testing.T, err, sentinel error, code int, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v (exit %d)", sentinel, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("err = %v, want errors.Is(%v)", err, sentinel)
	}
	t.Logf("error (exit %d): %v [hint: %s]", exitcode.Code(err), err, errdefs.Hint(err))
	if got := exitcode.Code(err); got != code {
		t.Errorf("exit code of %q = %d, want %d", err, got, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("err = %q, want it to contain %q", err, f)
		}
	}
}
