// Command tagrelay-bump is `tagrelay bump` as a single-purpose binary for small CI images. It
// links the bump code only (internal/cli/bumpcmd): no mirror, no trigger, no cluster client (--render links the reconciler's
// render package: Kustomize and the Helm template engine, run in this binary's render-worker).
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/bumpcmd"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	// The Helm templates of --render run in this binary, started again as a worker.
	if len(os.Args) == 2 && os.Args[1] == bumpcmd.WorkerCommand {
		os.Exit(bumpcmd.RunWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(clirun.Main(func(env *clirun.Env) *cli.App {
		return clirun.NewSingleApp(env, "tagrelay-bump", bumpcmd.NewCommand(env))
	}))
}
