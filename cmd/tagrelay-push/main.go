// Command tagrelay-push is `tagrelay push` as a single-purpose binary for small CI images. It
// links the registry code only (internal/cli/pushcmd), so it starts as fast as crane.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/pushcmd"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(func(env *clirun.Env) *cli.App {
		return clirun.NewSingleApp(env, "tagrelay-push", pushcmd.NewCommand(env))
	}))
}
