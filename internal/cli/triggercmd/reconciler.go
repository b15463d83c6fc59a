package triggercmd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/redact"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

type reconcilerOptions struct {
	common      clirun.Common
	tls         tlsflags.Options
	url         string
	app         string
	token       string
	tokenFile   string
	expectImage string
	allowNoop   bool
	restart     bool
	wait        bool
	timeout     time.Duration
}

// newReconcilerCommand returns `trigger reconciler`: POST a sync to tagrelay-reconciler and exit
// with the sync's code (3 for a refused no-op).
func newReconcilerCommand(env *clirun.Env) *cli.Command {
	o := &reconcilerOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "url", Usage: "base `URL` of tagrelay-reconciler (http://tagrelay-reconciler.tagrelay-system:8080)", EnvVars: []string{"TAGRELAY_RECONCILER_URL"}, Destination: &o.url},
		&cli.StringFlag{Name: "app", Usage: "`NAME` of the app to sync", EnvVars: []string{"TAGRELAY_APP"}, Destination: &o.app},
		&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding the reconciler's API token", EnvVars: []string{"TAGRELAY_RECONCILER_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true},
		&cli.StringFlag{Name: "token", Usage: "the API token itself (prefer --token-file; for CI masked variables)", EnvVars: []string{"TAGRELAY_RECONCILER_TOKEN"}, Destination: &o.token},
		&cli.StringFlag{Name: "expect-image", Usage: "`NAME:TAG` just built: the sync is refused (exit 3) unless it deploys it as a change", EnvVars: []string{"TAGRELAY_EXPECT_IMAGE"}, Destination: &o.expectImage},
		clirun.AllowNoopFlag(&o.allowNoop, "let a sync that changes no image apply (exit 0) instead of being refused (exit 3)", ""),
		&cli.BoolFlag{Name: "restart", Usage: "roll the app's workloads after applying", EnvVars: []string{"TAGRELAY_RESTART"}, Destination: &o.restart},
		&cli.BoolFlag{Name: "wait", Usage: "wait until the workloads are healthy (or failed) and exit with that result; default: until applied", EnvVars: []string{"TAGRELAY_WAIT"}, Destination: &o.wait},
		clirun.TimeoutFlag(&o.timeout, 15*time.Minute, "give up waiting for the reconciler's answer after `DURATION`", "", waitTimeoutVar),
	}
	flags = append(append(flags, tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "reconciler",
		Usage: "sync an app on tagrelay-reconciler and exit with the sync's result (3: no-op refused)",
		UsageText: "tagrelay trigger reconciler --url http://reconciler:8080 --app web --token-file token \\\n" +
			"    --expect-image harbor.example/team/web:$CI_COMMIT_SHORT_SHA --wait",
		Description: "The reconciler refuses a sync that changes no container image (exit 3) unless --allow-noop or --restart.\n" +
			"Without --wait the command returns once the app is applied; with it, once the rollout is healthy or failed.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runReconciler(c, env, o) },
	}
}

func runReconciler(c *cli.Context, env *clirun.Env, o *reconcilerOptions) error {
	log, err := begin(c, env, &o.common)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	token, err := env.Secret(o.token, o.tokenFile)
	if err != nil {
		return err
	}
	if token == "" {
		return clirun.Usagef("pass --token-file FILE (or TAGRELAY_RECONCILER_TOKEN)", "no reconciler API token")
	}
	client, err := o.tls.HTTPClient(env, log, redact.URL(o.url), o.timeout)
	if err != nil {
		return err
	}
	req := api.SyncRequest{ExpectImage: o.expectImage, AllowNoop: o.allowNoop, Restart: o.restart, Wait: o.wait}
	log.Info("triggering sync", "app", o.app, "url", redact.URL(o.url), "wait", o.wait)
	res, err := postSync(c.Context, &api.Client{URL: o.url, Token: token, HTTP: client}, o.app, req)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &syncError{res: res}
	}
	if o.allowNoop && !api.AnyChanged(res.Images) {
		clirun.NoopAccepted(log, "no container image changed", "app", o.app)
	}
	return env.Emit(&o.common, res, res.Describe(false), []clirun.KV{
		{Key: "TAGRELAY_SYNC_STATUS", Value: string(res.Status)},
		{Key: "TAGRELAY_SYNC_REVISION", Value: res.Revision},
	})
}

func (o *reconcilerOptions) validate() error {
	u, err := url.Parse(o.url)
	switch {
	case o.url == "":
		return clirun.Usagef("pass --url of tagrelay-reconciler", "no reconciler URL")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return clirun.Usagef("use http(s)://HOST[:PORT]", "invalid reconciler URL %q", redact.URL(o.url))
	case o.app == "":
		return clirun.Usagef("pass --app NAME", "no app given")
	}
	return nil
}

// postSync sends the sync request through the API client and gives its failures the flags that
// fix them.
func postSync(ctx context.Context, c *api.Client, app string, body api.SyncRequest) (*api.SyncResult, error) {
	res, err := c.Sync(ctx, app, body)
	if err == nil {
		return res, nil
	}
	var ae *api.AnswerError
	switch {
	case !errors.As(err, &ae):
		return nil, errdefs.WithHint(fmt.Errorf("triggering the reconciler: %w", err),
			"check --url and that tagrelay-reconciler is reachable from the job (raise --timeout for long rollouts)")
	case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden:
		return nil, errdefs.WithHint(err, "check --token-file: it must hold the reconciler's API token")
	case ae.StatusCode == http.StatusNotFound:
		return nil, errdefs.WithHint(err, "check --app against the reconciler's apps config")
	}
	return nil, err
}

// syncError is a sync that did not succeed; the command exits with its code.
type syncError struct{ res *api.SyncResult }

func (e *syncError) Error() string {
	return fmt.Sprintf("reconciler: app %s: %s: %s", e.res.App, e.res.Status, e.res.Message)
}
func (e *syncError) ExitCode() int { return e.res.ExitCode }
func (e *syncError) Unwrap() error {
	if e.res.Hint == "" {
		return nil
	}
	return errdefs.WithHint(errors.New(e.res.Message), e.res.Hint)
}
