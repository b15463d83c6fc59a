package argocdtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// shared is the Argo CD of one test binary, started by the first Shared call.
var shared struct {
	once   sync.Once
	argocd *ArgoCD
	err    error
}

// Main runs the tests of a package, then stops the shared Argo CD and cluster, keeping Argo
// CD's logs when a test failed. Call it from TestMain.
func Main(m *testing.M) {
	code := kubetest.Run(m)
	StopShared(code != 0)
	os.Exit(code)
}

// StopShared stops the shared Argo CD, if one was started, keeping (and printing the path of)
// its logs when keep. For a TestMain that runs several peers.
func StopShared(keep bool) {
	a := shared.argocd
	if a == nil {
		return
	}
	if keep {
		fmt.Fprintf(os.Stderr, "argocdtest: Argo CD logs kept in %s/logs\n", a.Dir)
	}
	if err := a.group.Stop(keep); err != nil {
		fmt.Fprintf(os.Stderr, "argocdtest: stopping Argo CD: %v\n", err)
	}
}

// Shared returns the Argo CD of this test binary, managing kubetest.Shared's cluster, starting
// it on first use (about 10 s; the first build takes minutes). It skips the test under -short and
// fails it when Argo CD cannot start.
func Shared(t testing.TB) *ArgoCD {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster and Argo CD; skipped under -short")
	}
	c := kubetest.Shared(t)
	shared.once.Do(func() {
		shared.argocd, shared.err = Start(context.Background(), c, Options{})
	})
	if shared.err != nil {
		t.Fatalf("argocdtest: %v", shared.err)
	}
	if err := shared.argocd.Exited(); err != nil {
		t.Fatalf("argocdtest: %v", err)
	}
	return shared.argocd
}
