package triggercmd

import (
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
)

type fluxOptions struct {
	common        clirun.Common
	tls           tlsflags.Options
	kustomization string
	source        string
	kubeconfig    string
	context       string
	expect        cli.StringSlice
	allowNoop     bool
	wait          bool
	timeout       time.Duration
	interval      time.Duration
}

// newFluxCommand returns `trigger flux`: ask a Flux Kustomization and its source to reconcile now
// through the Kubernetes API and exit with the rollout's verdict (gitops.Flux.Reconcile).
func newFluxCommand(env *clirun.Env) *cli.Command {
	o := &fluxOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "kustomization", Usage: "`NAMESPACE/NAME` of the Flux Kustomization to reconcile", EnvVars: []string{"TAGRELAY_FLUX_KUSTOMIZATION"}, Destination: &o.kustomization},
		&cli.StringFlag{Name: "source", Usage: "`KIND/NAMESPACE/NAME` of the source to reconcile first (GitRepository, OCIRepository, Bucket); default: the Kustomization's sourceRef", EnvVars: []string{"TAGRELAY_FLUX_SOURCE"}, Destination: &o.source},
		&cli.StringSliceFlag{Name: "expect-image", Usage: "`NAME:TAG` that must run when done (repeatable): refused (exit 3) when it already ran before and nothing rolled", EnvVars: []string{"TAGRELAY_EXPECT_IMAGE"}, Destination: &o.expect},
		clirun.AllowNoopFlag(&o.allowNoop, "accept (exit 0, with a warning) a trigger that rolled nothing instead of refusing it (exit 3)", ""),
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig `FILES` (':'-separated, merged as kubectl does); default: in a pod its service account, else ~/.kube/config", EnvVars: []string{"KUBECONFIG"}, Destination: &o.kubeconfig, TakesFile: true, Category: "Kubernetes"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT` to use; default: its current context", EnvVars: []string{"TAGRELAY_KUBE_CONTEXT"}, Destination: &o.context, Category: "Kubernetes"},
		&cli.BoolFlag{Name: "wait", Usage: "wait for the rollout: Ready at the new revision and the expected images running on ready pods; default: until the revision is applied", EnvVars: []string{"TAGRELAY_WAIT"}, Destination: &o.wait, Category: "Wait"},
		clirun.TimeoutFlag(&o.timeout, 15*time.Minute, "give up after `DURATION` (exit 1, saying what it still waited for)", "Wait", waitTimeoutVar),
		&cli.DurationFlag{Name: "poll-interval", Value: time.Second, Usage: "read the Kustomization, its source and the workloads every `DURATION`", EnvVars: []string{"TAGRELAY_POLL_INTERVAL"}, Destination: &o.interval, Category: "Wait"},
	}
	flags = append(append(flags, tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "flux",
		Usage: "reconcile a Flux Kustomization (and its source) now and exit with the rollout's verdict (3: the image already ran, nothing rolled)",
		UsageText: "tagrelay trigger flux --kustomization apps/web \\\n" +
			"    --expect-image harbor.example/team/web:$CI_COMMIT_SHORT_SHA --wait",
		Description: "Through the Kubernetes API, as 'flux reconcile kustomization --with-source' does: annotate the source and then\n" +
			"the Kustomization with reconcile.fluxcd.io/requestedAt, wait until the source has the new artifact and the\n" +
			"Kustomization applied it and, with --wait, is Ready and the expected images run on ready pods of its workloads.\n" +
			"Exit 0: rolled out; 1: the source or the apply failed, pods of the new image fail (listed with their reasons),\n" +
			"the credentials were refused, or --timeout; 3: the expected image already ran before and nothing rolled, or the\n" +
			"revision deploys another tag; 4: no such Kustomization or source, or it is suspended.\n" +
			"The credentials need get and patch on the Kustomization and its source, and get/list on the workloads and pods.\n" +
			"Credential plugins (exec) are not run: give a token or a client certificate.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runFlux(c, env, o) },
	}
}

func runFlux(c *cli.Context, env *clirun.Env, o *fluxOptions) error {
	log, err := begin(c, env, &o.common)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		return clirun.Usagef("pass the Kustomization with --kustomization NAMESPACE/NAME", "unexpected argument %q", c.Args().First())
	}
	if o.kustomization == "" {
		return clirun.Usagef("pass --kustomization NAMESPACE/NAME", "no Flux Kustomization given")
	}
	ks, err := gitops.ParseKustomization(o.kustomization)
	if err != nil {
		return err
	}
	var ro gitops.ReconcileOptions
	if o.source != "" {
		src, err := gitops.ParseSource(o.source)
		if err != nil {
			return err
		}
		ro.Source = &src
	}
	if ro.Expect, err = parseImages(o.expect.Value()); err != nil {
		return err
	}
	if o.interval <= 0 {
		return clirun.Usagef("pass a positive --poll-interval", "invalid --poll-interval %s", o.interval)
	}
	cfg, err := o.kubeConfig(env)
	if err != nil {
		return err
	}
	flux, err := gitops.NewFlux(cfg, gitops.WithLogger(log), gitops.WithPollInterval(o.interval))
	if err != nil {
		return err
	}
	ctx, cancel := clirun.WithTimeout(c.Context, o.timeout)
	defer cancel()
	log.Info("triggering reconciliation", "kustomization", o.kustomization, "server", cfg.Server, "wait", o.wait)
	ro.ApplyOnly = !o.wait
	res, err := flux.Reconcile(ctx, ks, ro)
	return emitGitOps(env, log, &o.common, res, certHint(err, "Kubernetes API server"), o.allowNoop,
		"push a new image tag, or pass --allow-noop to accept a deploy that rolled nothing")
}

// kubeConfig finds the cluster as kubectl does: --kubeconfig/KUBECONFIG, else the pod's service
// account, else ~/.kube/config. --ca-file adds authorities, --insecure skips verification.
func (o *fluxOptions) kubeConfig(env *clirun.Env) (*gitops.KubeConfig, error) {
	var cfg *gitops.KubeConfig
	var err error
	host, port := env.Getenv("KUBERNETES_SERVICE_HOST"), env.Getenv("KUBERNETES_SERVICE_PORT")
	switch {
	case o.kubeconfig != "":
		cfg, err = gitops.LoadKubeconfig(filepath.SplitList(o.kubeconfig), o.context)
	case host != "" && port != "" && o.context == "":
		cfg, err = gitops.InClusterConfig(host, port, "")
	default:
		home := env.Getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		cfg, err = gitops.LoadKubeconfig([]string{filepath.Join(home, ".kube", "config")}, o.context)
	}
	if err != nil {
		if errdefs.Hint(err) != "" {
			return nil, err
		}
		return nil, errdefs.WithHint(err, "pass --kubeconfig FILE (or KUBECONFIG) and --context, or run the job in the cluster with a service account")
	}
	env.Redactor.Add(cfg.Token)
	env.Redactor.Add(cfg.Password)
	pem, err := o.tls.Bundle(env)
	if err != nil {
		return nil, err
	}
	cfg.ExtraCAData = pem // with the kubeconfig's authorities, else the system's
	cfg.Insecure = cfg.Insecure || o.tls.Insecure
	return cfg, nil
}
