package bumpcmd

import (
	"os"
	"testing"
)

// TestMain doubles as the Helm template worker of bump --render: os.Executable is the test
// binary in-process, started again with the single argument render-worker.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == WorkerCommand {
		os.Exit(RunWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
