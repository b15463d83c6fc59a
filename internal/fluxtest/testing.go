package fluxtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// shared is the Flux of one test binary, started by the first Shared call.
var shared struct {
	once sync.Once
	flux *Flux
	err  error
}

// Main runs the tests of a package, then stops the shared Flux and cluster, keeping the
// controllers' logs when a test failed. Call it from TestMain.
func Main(m *testing.M) {
	code := kubetest.Run(m)
	StopShared(code != 0)
	os.Exit(code)
}

// StopShared stops the shared Flux, if one was started, keeping (and printing the path of) its
// logs when keep. For a TestMain that runs several peers.
func StopShared(keep bool) {
	f := shared.flux
	if f == nil {
		return
	}
	if keep {
		fmt.Fprintf(os.Stderr, "fluxtest: controller logs kept in %s/logs\n", f.Dir)
	}
	if err := f.group.Stop(keep); err != nil {
		fmt.Fprintf(os.Stderr, "fluxtest: stopping Flux: %v\n", err)
	}
}

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
	shared.once.Do(func() {
		shared.flux, shared.err = Start(context.Background(), c, Options{Notification: true})
	})
	if shared.err != nil {
		t.Fatalf("fluxtest: %v", shared.err)
	}
	if err := shared.flux.Exited(); err != nil {
		t.Fatalf("fluxtest: %v", err)
	}
	return shared.flux
}
