package fluxtest

import (
	"context"
	"os"
	"testing"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/peertest"
)

// shared is the Flux of one test binary, started by the first Shared call.
var shared = peertest.Shared[*Flux]{Name: "fluxtest", Group: func(f *Flux) *peertest.Group { return f.group }}

// Main runs the tests of a package, then stops the shared Flux and cluster, keeping the
// controllers' logs when a test failed. Call it from TestMain.
func Main(m *testing.M) {
	code := kubetest.Run(m)
	StopShared(code != 0)
	os.Exit(code)
}

// StopShared stops the shared Flux, if one was started, keeping (and printing the path of) its
// logs when keep. For a TestMain that runs several peers.
func StopShared(keep bool) { shared.Stop(keep) }

// Shared returns the Flux of this test binary (source-, kustomize- and notification-controller),
// reconciling kubetest.Shared's cluster, starting it on first use (a few seconds; the first build
// of the controllers takes minutes). It skips the test under -short and fails it when Flux cannot
// start. Use it with Main (or StopShared).
func Shared(t testing.TB) *Flux {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster and Flux controllers; skipped under -short")
	}
	c := kubetest.Shared(t)
	return shared.Get(t, func() (*Flux, error) { return Start(context.Background(), c, Options{Notification: true}) })
}
