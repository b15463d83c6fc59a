package bumpcmd

import (
	"os"
	"testing"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd/renderengine"
)

// TestMain installs the render engine, as the tagrelay binary does, and doubles as the Helm
// template worker of bump --render: os.Executable is the test binary in-process, started again
// with the single argument render-worker.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == renderengine.WorkerCommand {
		os.Exit(renderengine.RunWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	SetRenderEngine(func(s bump.RenderSettings, apps []byte, app string) (RenderChecker, error) {
		c, err := renderengine.New(s, apps, app)
		if err != nil {
			return nil, err
		}
		return c, nil
	})
	os.Exit(m.Run())
}
