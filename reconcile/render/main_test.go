package render_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tagrelay/tagrelay/reconcile/render"
)

// TestMain doubles as the template worker of the isolation tests: the test binary started with
// the single argument render-worker runs one job, like tagrelay-reconciler render-worker.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "render-worker" {
		if err := render.RunWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, render.WorkerError(err))
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// isolated renders with the test binary as the template worker.
func isolated(t testing.TB, limits render.Limits, memory int64) render.Options {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return render.Options{Limits: limits, Isolation: &render.Isolation{Command: []string{exe, "render-worker"}, MaxMemory: memory}}
}
