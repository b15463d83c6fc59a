// Command tagrelay-bump is `tagrelay bump` as a single-purpose binary for small CI images.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tagrelay"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(func(env *clirun.Env) *cli.App {
		return clirun.NewSingleApp(env, "tagrelay-bump", tagrelay.NewBumpCommand(env))
	}))
}
