package reconciler

import (
	"context"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

type syncOptions struct {
	cluster     clusterOptions
	expectImage string
	allowNoop   bool
	restart     bool
	adopt       bool
	forcePrune  bool
	dryRun      bool
	noWait      bool
	timeout     time.Duration
}

func newSyncCommand(env *clirun.Env) *cli.Command {
	o := &syncOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "expect-image", Usage: "`NAME:TAG` the pipeline just built: refuse (exit 3) unless the sync deploys it as a change", EnvVars: []string{"TAGRELAY_EXPECT_IMAGE"}, Destination: &o.expectImage},
		&cli.BoolFlag{Name: "allow-noop", Usage: "apply even when no container image changes (exit 0 with a warning instead of 3)", EnvVars: []string{"TAGRELAY_ALLOW_NOOP"}, Destination: &o.allowNoop},
		&cli.BoolFlag{Name: "restart", Usage: "roll the app's Deployments, StatefulSets and DaemonSets after applying (kubectl.kubernetes.io/restartedAt)", EnvVars: []string{"TAGRELAY_RESTART"}, Destination: &o.restart},
		&cli.BoolFlag{Name: "adopt", Usage: "take over existing objects that are unlabelled or another app's", EnvVars: []string{"TAGRELAY_ADOPT"}, Destination: &o.adopt},
		&cli.BoolFlag{Name: "force-prune", Usage: "prune even when the sync removes more than --max-prune percent of the app's objects", EnvVars: []string{"TAGRELAY_FORCE_PRUNE"}, Destination: &o.forcePrune},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the diff and apply nothing", EnvVars: []string{"TAGRELAY_DRY_RUN"}, Destination: &o.dryRun},
		&cli.BoolFlag{Name: "no-wait", Usage: "return after applying, without waiting for the workloads to be healthy", EnvVars: []string{"TAGRELAY_NO_WAIT"}, Destination: &o.noWait},
		&cli.DurationFlag{Name: "timeout", Usage: "bound the wait for health (default: the app's timeout, 5m)", EnvVars: []string{"TAGRELAY_TIMEOUT"}, Destination: &o.timeout},
	}
	return &cli.Command{
		Name:      "sync",
		Usage:     "deploy an app now: fetch, render, diff, apply, prune, wait for health, record",
		ArgsUsage: "APP",
		UsageText: "tagrelay-reconciler sync [flags] APP\n" +
			"tagrelay-reconciler sync --config apps.yaml web\n" +
			"tagrelay-reconciler sync --expect-image harbor.example/team/web:1a2b3c4d web\n" +
			"tagrelay-reconciler sync --restart web",
		Description: "A sync that changes no container image is refused (exit 3, nothing applied) unless --allow-noop or --restart.\n" +
			"Objects outside the app's namespace, cluster-scoped kinds it may not write, bindings to roles or subjects outside the app,\n" +
			"workloads using a ServiceAccount that is not the app's, and pruning more than --max-prune percent of the app's objects\n" +
			"refuse the sync (exit 4, nothing applied). Namespaces, CRDs, PVCs and PVs are never pruned unless the app allows it.",
		Flags: append(flags, clusterFlags(&o.cluster)...),
		Action: func(c *cli.Context) error {
			return runSync(c, env, o.cluster, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI, Guard: true,
				ExpectImage: o.expectImage, AllowNoop: o.allowNoop, Restart: o.restart, Adopt: o.adopt, ForcePrune: o.forcePrune,
				DryRun: o.dryRun, NoWait: o.noWait, Timeout: o.timeout})
		},
	}
}

func newDiffCommand(env *clirun.Env) *cli.Command {
	o := &clusterOptions{}
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what a sync would change, per object (server-side apply dry run against the live state)",
		ArgsUsage: "APP",
		Flags:     clusterFlags(o),
		Action: func(c *cli.Context) error {
			return runSync(c, env, *o, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI, DryRun: true})
		},
	}
}

// setupApp is what every per-app command does first: take the APP argument, load the config,
// connect to the cluster.
func (o *clusterOptions) setupApp(c *cli.Context, env *clirun.Env) (reconcile.App, *reconcile.Reconciler, *slog.Logger, error) {
	if c.NArg() != 1 {
		return reconcile.App{}, nil, nil, clirun.Usagef("pass the app's name: "+c.Command.HelpName+" [flags] APP",
			"expected one APP argument, got %d", c.NArg())
	}
	cfg, r, log, err := o.setup(env)
	if err != nil {
		return reconcile.App{}, nil, nil, err
	}
	app, err := cfg.App(c.Args().First())
	return app, r, log, err
}

func runSync(c *cli.Context, env *clirun.Env, o clusterOptions, opts reconcile.SyncOptions) error {
	app, r, log, err := o.setupApp(c, env)
	if err != nil {
		return err
	}
	return syncApp(c.Context, env, o, r, app, log, opts)
}

func syncApp(ctx context.Context, env *clirun.Env, o clusterOptions, r *reconcile.Reconciler, app reconcile.App, log *slog.Logger, opts reconcile.SyncOptions) error {
	if opts.Caller == nil {
		opts.Caller = cliCaller(env)
	}
	res, err := r.Sync(ctx, app, opts)
	return emitSync(env, o, app, log, res, err, opts.AllowNoop, opts.DryRun)
}

// emitSync prints a sync's result, or returns its error.
func emitSync(env *clirun.Env, o clusterOptions, app reconcile.App, log *slog.Logger, res *reconcile.Result, err error, allowNoop, dryRun bool) error {
	if err != nil {
		return err
	}
	if allowNoop && !api.AnyChanged(res.Images) {
		log.Warn("no-op accepted (--allow-noop): no container image changed", "app", app.Name)
	}
	if res.Message != "" {
		log.Warn(res.Message, "app", app.Name) // what the sync did not do: hooks not run, objects kept
	}
	return env.Emit(&o.common, res, res.Describe(dryRun), []clirun.KV{
		{Key: "TAGRELAY_SYNC_STATUS", Value: string(res.Status)},
		{Key: "TAGRELAY_SYNC_REVISION", Value: res.Revision},
	})
}
