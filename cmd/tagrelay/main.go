// Command tagrelay carries a commit from an application repository to running pods: push, bump,
// mirror, trigger and release. See README.md.
package main

import (
	"os"

	"github.com/tagrelay/tagrelay/internal/cli/tagrelay"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(tagrelay.NewApp))
}
