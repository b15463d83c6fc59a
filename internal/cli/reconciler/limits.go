package reconciler

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// limitOptions are the reconciler's defaults of the apps' limits; the config's limits (top
// level, then per app) win over them.
type limitOptions struct {
	renderTimeout time.Duration
	maxBytes      string
	maxObjects    int
	maxAliasNodes int64
	gitTimeout    time.Duration
	maxPrune      int
	renderMemory  string
}

func limitFlags(o *limitOptions) []cli.Flag {
	const cat = "Limits (defaults; the config's limits win)"
	return []cli.Flag{
		&cli.DurationFlag{Name: "render-timeout", Value: 60 * time.Second, Usage: "bound each app's render", EnvVars: []string{"TAGRELAY_RENDER_TIMEOUT"}, Destination: &o.renderTimeout, Category: cat},
		&cli.StringFlag{Name: "max-render-bytes", Value: "32Mi", Usage: "bound each app's rendered output (`SIZE`: 32Mi, bytes)", EnvVars: []string{"TAGRELAY_MAX_RENDER_BYTES"}, Destination: &o.maxBytes, Category: cat},
		&cli.IntFlag{Name: "max-objects", Value: 5000, Usage: "bound each app's rendered objects", EnvVars: []string{"TAGRELAY_MAX_OBJECTS"}, Destination: &o.maxObjects, Category: cat},
		&cli.Int64Flag{Name: "max-alias-nodes", Value: 10000, Usage: "bound the nodes YAML aliases expand to in one render (alias bombs)", EnvVars: []string{"TAGRELAY_MAX_ALIAS_NODES"}, Destination: &o.maxAliasNodes, Category: cat},
		&cli.DurationFlag{Name: "git-timeout", Value: 2 * time.Minute, Usage: "bound each git operation (ls-remote, fetch)", EnvVars: []string{"TAGRELAY_GIT_TIMEOUT"}, Destination: &o.gitTimeout, Category: cat},
		&cli.StringFlag{Name: "render-memory", Value: "256Mi", Usage: "bound the memory of the worker process that runs an app's Helm templates (`SIZE`)", EnvVars: []string{"TAGRELAY_RENDER_MEMORY"}, Destination: &o.renderMemory, Category: cat},
		&cli.IntFlag{Name: "max-prune", Value: 50, Usage: "refuse a sync that would prune more than this `PERCENT` of the app's objects (sync --force-prune overrides)", EnvVars: []string{"TAGRELAY_MAX_PRUNE"}, Destination: &o.maxPrune, Category: cat},
	}
}

func (o *limitOptions) limits() (reconcile.Limits, error) {
	q, err := resource.ParseQuantity(o.maxBytes)
	if err != nil || q.Sign() <= 0 {
		return reconcile.Limits{}, clirun.Usagef("use a size such as 32Mi", "invalid --max-render-bytes %q", o.maxBytes)
	}
	if o.renderTimeout <= 0 || o.gitTimeout <= 0 || o.maxObjects <= 0 || o.maxAliasNodes <= 0 {
		return reconcile.Limits{}, clirun.Usagef("give positive limits", "--render-timeout, --git-timeout, --max-objects and --max-alias-nodes must be positive")
	}
	if o.maxPrune < 1 || o.maxPrune > 100 {
		return reconcile.Limits{}, clirun.Usagef("use a percentage, 1 to 100", "invalid --max-prune %d", o.maxPrune)
	}
	return reconcile.Limits{RenderTimeout: reconcile.Duration(o.renderTimeout), MaxRenderBytes: reconcile.Bytes(q.Value()),
		MaxObjects: o.maxObjects, MaxAliasNodes: o.maxAliasNodes, GitTimeout: reconcile.Duration(o.gitTimeout), MaxPrune: o.maxPrune}, nil
}

// isolation runs Helm templates in this binary's render-worker command.
func (o *limitOptions) isolation() (*render.Isolation, error) {
	q, err := resource.ParseQuantity(o.renderMemory)
	if err != nil || q.Value() < 32<<20 {
		return nil, clirun.Usagef("use a size of at least 32Mi", "invalid --render-memory %q", o.renderMemory)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary for the template worker: %w", err)
	}
	return &render.Isolation{Command: []string{exe, workerCommand}, MaxMemory: q.Value()}, nil
}

// workerCommand is the hidden command that runs Helm templates for the other commands.
const workerCommand = "render-worker"

func newRenderWorkerCommand(env *clirun.Env) *cli.Command {
	return &cli.Command{
		Name:   workerCommand,
		Usage:  "run one job of Helm templates from stdin (started by the other commands; not for people)",
		Hidden: true,
		Action: func(*cli.Context) error {
			if err := render.RunWorker(env.Stdin, env.Stdout); err != nil {
				fmt.Fprintln(env.Stderr, render.WorkerError(err))
				return cli.Exit("", 3)
			}
			return nil
		},
	}
}
