package triggercmd

import (
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
	rollback    rollbackFlag
	unpin       bool
}

// rollbackFlag is --rollback (the default target) or --rollback=N|COMMIT: a flag that, like a
// boolean, may go without a value.
type rollbackFlag struct {
	set    bool
	target api.RollbackTarget
}

func (f *rollbackFlag) IsBoolFlag() bool { return true }

func (f *rollbackFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.target.String()
}

func (f *rollbackFlag) Set(v string) error {
	switch v {
	case "false":
		*f = rollbackFlag{}
		return nil
	case "true", "":
		*f = rollbackFlag{set: true}
		return nil
	}
	t, err := api.ParseRollbackTarget(v)
	if err != nil {
		return err
	}
	*f = rollbackFlag{set: true, target: t}
	return nil
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
		&cli.GenericFlag{Name: "rollback", Usage: "roll the app back instead of syncing it, and pin it there: alone, to the last successful sync's predecessor; " +
			"--rollback=N to history entry N (1 = newest), --rollback=COMMIT to a commit (exit 3 when it would change nothing)", EnvVars: []string{"TAGRELAY_ROLLBACK"}, Value: &o.rollback},
		&cli.BoolFlag{Name: "unpin", Usage: "end the app's rollback pin (its next poll deploys its revision again; exit 3 when not pinned)", EnvVars: []string{"TAGRELAY_UNPIN"}, Destination: &o.unpin},
	}
	flags = append(append(flags, tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "reconciler",
		Usage: "sync an app on tagrelay-reconciler and exit with the sync's result (3: no-op refused)",
		UsageText: "tagrelay trigger reconciler --url http://reconciler:8080 --app web --token-file token \\\n" +
			"    --expect-image harbor.example/team/web:$CI_COMMIT_SHORT_SHA --wait\n" +
			"tagrelay trigger reconciler --url http://reconciler:8080 --app web --token-file token --rollback=2 --wait",
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
	if c.NArg() > 0 {
		return clirun.Usagef("write --rollback=N (the value goes after =)", "unexpected argument %q", c.Args().First())
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
	rc := &api.Client{URL: o.url, Token: token, HTTP: client}
	if o.unpin {
		log.Info("unpinning", "app", o.app, "url", redact.URL(o.url))
		st, err := rc.Unpin(c.Context, o.app)
		if err != nil {
			return hinted(err)
		}
		return env.Emit(&o.common, st, fmt.Sprintf("%s: unpinned (%s); its next poll deploys %s again\n", o.app, st.Pin.EndedBy, st.Ref), nil)
	}
	var res *api.SyncResult
	if o.rollback.set {
		log.Info("rolling back", "app", o.app, "to", o.rollback.target.String(), "url", redact.URL(o.url), "wait", o.wait)
		res, err = rc.Rollback(c.Context, o.app, api.RollbackRequest{To: o.rollback.target, AllowNoop: o.allowNoop, Wait: o.wait})
	} else {
		log.Info("triggering sync", "app", o.app, "url", redact.URL(o.url), "wait", o.wait)
		res, err = rc.Sync(c.Context, o.app, api.SyncRequest{ExpectImage: o.expectImage, AllowNoop: o.allowNoop, Restart: o.restart, Wait: o.wait})
	}
	if err != nil {
		return hinted(err)
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
	case o.rollback.set && o.unpin:
		return clirun.Usagef("pass one of them", "--rollback and --unpin together")
	case (o.rollback.set || o.unpin) && (o.expectImage != "" || o.restart):
		return clirun.Usagef("--expect-image and --restart go with a sync", "--expect-image or --restart with --rollback or --unpin")
	}
	return nil
}

// hinted gives the API client's failures the flags that fix them.
func hinted(err error) error {
	var ae *api.AnswerError
	switch {
	case !errors.As(err, &ae):
		return errdefs.WithHint(fmt.Errorf("triggering the reconciler: %w", err),
			"check --url and that tagrelay-reconciler is reachable from the job (raise --timeout for long rollouts)")
	case ae.StatusCode == http.StatusUnauthorized:
		return errdefs.WithHint(err, "check --token-file: it must hold the reconciler's API token, a project token or a GitLab CI id_token")
	case ae.StatusCode == http.StatusForbidden:
		return errdefs.WithHint(err, "the token's project does not own this app: check --app and --token-file")
	case ae.StatusCode == http.StatusNotFound:
		return errdefs.WithHint(err, "check --app against the reconciler's apps config")
	}
	return err
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
