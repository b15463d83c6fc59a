// Command tagrelay-bump is `tagrelay bump` as a single-purpose binary for small CI images. It
// links the bump code only (internal/cli/bumpcmd): no mirror, no trigger, no cluster client,
// and no render engine (Kustomize, Helm): --render and --explain are the tagrelay binary's.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(func(env *clirun.Env) *cli.App {
		return clirun.NewSingleApp(env, "tagrelay-bump", bumpcmd.NewCommand(env))
	}))
}
