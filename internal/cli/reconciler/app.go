// Package reconciler builds the tagrelay-reconciler command-line app: sync, diff, render,
// history, rollback, rbac and serve over an apps config file. Each command maps its flags to
// one call of package reconcile.
package reconciler

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile"
)

// NewApp returns the tagrelay-reconciler app.
func NewApp(env *clirun.Env) *cli.App {
	return &cli.App{
		Name:    "tagrelay-reconciler",
		Usage:   "deploy apps from git to a cluster with server-side apply, and refuse deploys that change no image",
		Version: clirun.Version,
		Description: "A triggered sync that changes no container image exits 3 (HTTP 409) unless --allow-noop or --restart.\n" +
			"Exit codes: 0 done, 1 failure, 2 usage/input error, 3 no-op refused, 4 precondition failed (tenancy, ownership).",
		Commands: []*cli.Command{
			newSyncCommand(env),
			newDiffCommand(env),
			newRenderCommand(env),
			newHistoryCommand(env),
			newRollbackCommand(env),
			newServeCommand(env),
			newRBACCommand(env),
			newRenderWorkerCommand(env),
		},
		Writer:          env.Stdout,
		ErrWriter:       env.Stderr,
		Reader:          env.Stdin,
		HideHelpCommand: true,
	}
}

// clusterOptions are the flags every command shares: the apps file and the cluster.
type clusterOptions struct {
	common     clirun.Common
	config     string
	kubeconfig string
	kubectx    string
	namespace  string
	cacheDir   string
	jobs       int
	limits     limitOptions
	source     reconcile.SourceLimits // serve's --max-source-bytes
}

func clusterFlags(o *clusterOptions) []cli.Flag {
	return append(append([]cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILE` (default: $KUBECONFIG, ~/.kube/config, or in-cluster)", EnvVars: []string{"KUBECONFIG"}, Destination: &o.kubeconfig, TakesFile: true},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT`", EnvVars: []string{"TAGRELAY_CONTEXT"}, Destination: &o.kubectx},
		&cli.IntFlag{Name: "jobs", Value: 16, Usage: "API requests in flight during a sync", EnvVars: []string{"TAGRELAY_JOBS"}, Destination: &o.jobs},
	}, configFlags(o)...), clirun.CommonFlags(&o.common)...)
}

// configFlags are the flags of the commands that need no cluster (render, rbac): the apps
// config, the reconciler's namespace, the git cache and the limits.
func configFlags(o *clusterOptions) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "apps.yaml", Usage: "apps config `FILE`", EnvVars: []string{"TAGRELAY_CONFIG"}, Destination: &o.config, TakesFile: true},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: "tagrelay-system", Usage: "the reconciler's `NAMESPACE`: the apps' inventories, histories and the leader lease (no app may target it)", EnvVars: []string{"TAGRELAY_NAMESPACE", "POD_NAMESPACE"}, Destination: &o.namespace},
		&cli.StringFlag{Name: "cache-dir", Usage: "`DIR` of the incremental git cache (default: the user cache dir)", EnvVars: []string{"TAGRELAY_CACHE_DIR"}, Destination: &o.cacheDir, TakesFile: true},
	}, limitFlags(&o.limits)...)
}

// loadConfig loads the config (resolving and registering the git credentials as secrets) and
// checks that no app targets the reconciler's namespace.
func (o *clusterOptions) loadConfig(env *clirun.Env) (*reconcile.Config, *slog.Logger, error) {
	log, err := env.Begin(&o.common)
	if err != nil {
		return nil, nil, err
	}
	// client-go logs through klog (leader election, throttling); send it where ours goes.
	klog.SetSlogLogger(log)
	cfg, err := reconcile.LoadConfig(o.config)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.CheckNamespaces(o.namespace); err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", o.config, err)
	}
	if err := cfg.ResolveCredentials(env.Getenv); err != nil {
		return nil, nil, err
	}
	env.Redactor.Add(cfg.Secrets()...)
	if o.cacheDir == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			o.cacheDir = filepath.Join(dir, "tagrelay", "reconciler")
		}
	}
	return cfg, log, nil
}

// options are the Reconciler's options from the flags. Helm templates run in a worker: this
// binary's render-worker command.
func (o *clusterOptions) options(log *slog.Logger) (reconcile.Options, error) {
	limits, err := o.limits.limits()
	if err != nil {
		return reconcile.Options{}, err
	}
	iso, err := o.limits.isolation()
	if err != nil {
		return reconcile.Options{}, err
	}
	return reconcile.Options{Namespace: o.namespace, CacheDir: o.cacheDir, Jobs: o.jobs, Logger: log, Limits: limits,
		RenderIsolation: iso, Source: o.source}, nil
}

// setup loads the config and connects to the cluster.
func (o *clusterOptions) setup(env *clirun.Env) (*reconcile.Config, *reconcile.Reconciler, *slog.Logger, error) {
	cfg, log, err := o.loadConfig(env)
	if err != nil {
		return nil, nil, nil, err
	}
	rest, err := o.restConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	opts, err := o.options(log)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err := reconcile.New(rest, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, r, log, nil
}

// restConfig uses --kubeconfig, else the standard loading rules ($KUBECONFIG, ~/.kube/config),
// else the in-cluster service account (the deferred loader falls back to it by itself when no
// kubeconfig is found).
func (o *clusterOptions) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.kubectx})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, errdefs.WithHint(errdefs.Invalid(fmt.Errorf("loading kubeconfig: %w", err)),
			"pass --kubeconfig FILE or set KUBECONFIG, or run in a cluster")
	}
	return cfg, nil
}
