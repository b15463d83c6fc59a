package tagrelay

import (
	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
)

// newTriggerCommand returns the trigger parent: start the next stage of the chain and, with
// --wait, follow it to its end.
func newTriggerCommand(env *clirun.Env) *cli.Command {
	return &cli.Command{
		Name:  "trigger",
		Usage: "start the next stage (a reconciler sync) and, with --wait, exit with its result",
		Subcommands: []*cli.Command{
			newTriggerReconcilerCommand(env),
		},
	}
}
