package reconciler

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
)

type serveOptions struct {
	cluster     clusterOptions
	listen      string
	interval    time.Duration
	tokenFile   string
	webhookFile string
	leaderElect string
	leaseName   string
}

func newServeCommand(env *clirun.Env) *cli.Command {
	o := &serveOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: ":8080", Usage: "`ADDR` of the HTTP API, /metrics, /healthz and /readyz", EnvVars: []string{"TAGRELAY_LISTEN"}, Destination: &o.listen},
		&cli.DurationFlag{Name: "interval", Value: 3 * time.Minute, Usage: "how often to check each app's repository (ls-remote; a sync only for a new commit); negative disables", EnvVars: []string{"TAGRELAY_INTERVAL"}, Destination: &o.interval},
		&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding the bearer token of the API", EnvVars: []string{"TAGRELAY_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true},
		&cli.StringFlag{Name: "webhook-secret-file", Usage: "`FILE` holding the secret of GitLab (X-Gitlab-Token) and GitHub (HMAC) push webhooks; unset: webhooks off", EnvVars: []string{"TAGRELAY_WEBHOOK_SECRET_FILE"}, Destination: &o.webhookFile, TakesFile: true},
		&cli.StringFlag{Name: "leader-elect", Value: "auto", Usage: "elect a leader among replicas with a Lease: true, false, or auto (true in a cluster)", EnvVars: []string{"TAGRELAY_LEADER_ELECT"}, Destination: &o.leaderElect},
		&cli.StringFlag{Name: "lease-name", Value: "tagrelay-reconciler", Usage: "`NAME` of the leader Lease in --namespace", EnvVars: []string{"TAGRELAY_LEASE_NAME"}, Destination: &o.leaseName},
	}
	return &cli.Command{
		Name:  "serve",
		Usage: "poll the apps and serve the sync API (POST /api/v1/apps/{name}/sync with a bearer token)",
		UsageText: "tagrelay-reconciler serve --config apps.yaml --token-file /etc/tagrelay/api-token\n" +
			"curl -H \"Authorization: Bearer $TOKEN\" -d '{\"expectImage\":\"team/web:1a2b3c4d\",\"wait\":true}' http://reconciler:8080/api/v1/apps/web/sync",
		Flags:  append(flags, clusterFlags(&o.cluster)...),
		Action: func(c *cli.Context) error { return runServe(c.Context, env, o) },
	}
}

func runServe(ctx context.Context, env *clirun.Env, o *serveOptions) error {
	if o.tokenFile == "" {
		return clirun.Usagef("pass --token-file FILE (the token triggers must send as a bearer token)", "no API token")
	}
	token, err := env.Secret("", o.tokenFile)
	if err != nil {
		return err
	}
	webhookSecret, err := env.Secret("", o.webhookFile)
	if err != nil {
		return err
	}
	elect, err := o.elect(env)
	if err != nil {
		return err
	}
	cfg, r, log, err := o.cluster.setup(env)
	if err != nil {
		return err
	}
	s, err := reconcile.NewServer(ctx, r, cfg, reconcile.ServerOptions{Token: token, Interval: o.interval, Logger: log,
		WebhookSecret: webhookSecret, LeaderElection: elect})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return clirun.Usagef("pass a free --listen address", "listening on %s: %v", o.listen, err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving", "addr", ln.Addr().String(), "apps", len(cfg.Apps), "leader-election", elect)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
		if !elect {
			s.Poll(gctx)
			return nil
		}
		id, _ := os.Hostname()
		return s.LeaderElection(gctx, o.leaseName, id, s.Poll)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // SIGTERM: a clean stop
	}
	return err
}

// elect resolves --leader-elect: auto means in a cluster (KUBERNETES_SERVICE_HOST is set).
func (o *serveOptions) elect(env *clirun.Env) (bool, error) {
	switch o.leaderElect {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto", "":
		return env.Getenv("KUBERNETES_SERVICE_HOST") != "", nil
	}
	return false, clirun.Usagef("use --leader-elect true, false or auto", "invalid --leader-elect %q", o.leaderElect)
}
