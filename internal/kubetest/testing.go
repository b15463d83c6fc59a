package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// shared is the cluster of one test binary, started by the first Shared call.
var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Main runs the tests of a package and stops the shared cluster, if one was started. Call it
// from TestMain.
func Main(m *testing.M) {
	if code := Run(m); code != 0 {
		os.Exit(code)
	}
}

// Run is Main for a TestMain that has more to clean up: it runs the tests, stops the shared
// cluster, if one was started, and returns m.Run's exit code.
func Run(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	code := m.Run()
	if err := shared.cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: stopping the cluster: %v\n", err)
	}
	return code
}

// Shared returns the cluster of this test binary, starting it on first use (about 5 s). It skips
// the test under -short and fails it when the cluster cannot start. Use it with Main.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster; skipped under -short")
	}
	shared.once.Do(func() {
		shared.cluster, shared.err = Start(context.Background(), Options{})
	})
	if shared.err != nil {
		t.Fatalf("kubetest: %v", shared.err)
	}
	return shared.cluster
}

// Namespace creates a namespace with a unique name derived from the test's and deletes it when
// the test ends.
func Namespace(t testing.TB, c *Cluster) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// uniqueName turns a test name into a DNS label with a random suffix.
func uniqueName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 50 {
		base = strings.Trim(base[:50], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	return base + "-" + hex.EncodeToString(suffix)
}
