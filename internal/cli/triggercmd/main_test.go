package triggercmd

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

// runCLI runs `tagrelay trigger …` (args start with "trigger") in-process.
func runCLI(t *testing.T, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, []clitest.NewCommand{NewCommand}, vars, args...)
}

// newApp is an app holding the trigger command, for tests that build their own Env.
func newApp(env *clirun.Env) *cli.App {
	return &cli.App{Name: "tagrelay", Commands: []*cli.Command{NewCommand(env)}, Writer: env.Stdout, ErrWriter: env.Stderr}
}
