package argocdtest

import (
	"context"
	"os"
	"testing"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/peertest"
)

// shared is the Argo CD of one test binary, started by the first Shared call.
var shared = peertest.Shared[*ArgoCD]{Name: "argocdtest", Group: func(a *ArgoCD) *peertest.Group { return a.group }}

// Main runs the tests of a package, then stops the shared Argo CD and cluster, keeping Argo
// CD's logs when a test failed. Call it from TestMain.
func Main(m *testing.M) {
	code := kubetest.Run(m)
	StopShared(code != 0)
	os.Exit(code)
}

// StopShared stops the shared Argo CD, if one was started, keeping (and printing the path of)
// its logs when keep. For a TestMain that runs several peers.
func StopShared(keep bool) { shared.Stop(keep) }

// Shared returns the Argo CD of this test binary, managing kubetest.Shared's cluster, starting
// it on first use (about 10 s; the first build takes minutes). It skips the test under -short and
// fails it when Argo CD cannot start.
func Shared(t testing.TB) *ArgoCD {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster and Argo CD; skipped under -short")
	}
	c := kubetest.Shared(t)
	return shared.Get(t, func() (*ArgoCD, error) { return Start(context.Background(), c, Options{}) })
}
