package bumpcmd

import (
	"testing"

	"github.com/tagrelay/tagrelay/internal/cli/clitest"
)

// run runs `tagrelay bump …` (args start with "bump") in-process.
func runCLI(t *testing.T, vars map[string]string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, []clitest.NewCommand{NewCommand}, vars, args...)
}
