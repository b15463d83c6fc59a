// Command tagrelay-reconciler deploys apps from git to a cluster (render, diff, server-side
// apply, prune, wait) and refuses deploys that change no image. See docs/reconciler.md.
package main

import (
	"os"

	"github.com/tagrelay/tagrelay/internal/cli/reconciler"
	"github.com/tagrelay/tagrelay/internal/clirun"
)

func main() {
	os.Exit(clirun.Main(reconciler.NewApp))
}
