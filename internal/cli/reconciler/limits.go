package reconciler

import (
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
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
}

func limitFlags(o *limitOptions) []cli.Flag {
	const cat = "Limits (defaults; the config's limits win)"
	return []cli.Flag{
		&cli.DurationFlag{Name: "render-timeout", Value: 60 * time.Second, Usage: "bound each app's render", EnvVars: []string{"TAGRELAY_RENDER_TIMEOUT"}, Destination: &o.renderTimeout, Category: cat},
		&cli.StringFlag{Name: "max-render-bytes", Value: "32Mi", Usage: "bound each app's rendered output (`SIZE`: 32Mi, bytes)", EnvVars: []string{"TAGRELAY_MAX_RENDER_BYTES"}, Destination: &o.maxBytes, Category: cat},
		&cli.IntFlag{Name: "max-objects", Value: 5000, Usage: "bound each app's rendered objects", EnvVars: []string{"TAGRELAY_MAX_OBJECTS"}, Destination: &o.maxObjects, Category: cat},
		&cli.Int64Flag{Name: "max-alias-nodes", Value: 10000, Usage: "bound the nodes YAML aliases expand to in one render (alias bombs)", EnvVars: []string{"TAGRELAY_MAX_ALIAS_NODES"}, Destination: &o.maxAliasNodes, Category: cat},
		&cli.DurationFlag{Name: "git-timeout", Value: 2 * time.Minute, Usage: "bound each git operation (ls-remote, fetch)", EnvVars: []string{"TAGRELAY_GIT_TIMEOUT"}, Destination: &o.gitTimeout, Category: cat},
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
