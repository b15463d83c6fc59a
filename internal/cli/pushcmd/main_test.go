package pushcmd

import (
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
)

// runCLI runs `tagrelay push …` in-process (args start with "push").
func runCLI(t *testing.T, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, []clitest.NewCommand{NewCommand}, vars, args...)
}
