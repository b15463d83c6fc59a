// Command tagrelay-mirror is `tagrelay mirror` as a single-purpose binary for small CI images. It
// links the mirror code only (internal/cli/mirrorcmd).
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/mirrorcmd"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(func(env *clirun.Env) *cli.App {
		return clirun.NewSingleApp(env, "tagrelay-mirror", mirrorcmd.NewCommand(env))
	}))
}
