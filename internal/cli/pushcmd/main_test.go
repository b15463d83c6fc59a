package pushcmd

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// runCLI runs `tagrelay push …` (args start with "push") in-process.
func runCLI(t *testing.T, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, []clitest.NewCommand{NewCommand}, vars, args...)
}

// newApp is an app holding the command, for tests that build their own Env.
func newApp(env *clirun.Env) *cli.App {
	return &cli.App{Name: "tagrelay", Commands: []*cli.Command{NewCommand(env)}, Writer: env.Stdout, ErrWriter: env.Stderr}
}
