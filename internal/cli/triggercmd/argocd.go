package triggercmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/redact"
)

type argocdOptions struct {
	common       clirun.Common
	tls          tlsflags.Options
	server       string
	app          string
	appNamespace string
	token        string
	tokenFile    string
	revision     string
	expect       cli.StringSlice
	restart      bool
	prune        bool
	allowNoop    bool
	wait         bool
	timeout      time.Duration
}

// newArgoCDCommand returns `trigger argocd`: refresh and sync an Argo CD application through its
// REST API and exit with the rollout's verdict (gitops.ArgoCD.Sync).
func newArgoCDCommand(env *clirun.Env) *cli.Command {
	o := &argocdOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "server", Usage: "Argo CD `URL` (https://argocd.example; a bare HOST[:PORT], as ARGOCD_SERVER holds it, means https)", EnvVars: []string{"TAGRELAY_ARGOCD_SERVER", "ARGOCD_SERVER"}, Destination: &o.server},
		&cli.StringFlag{Name: "app", Usage: "`NAME` of the application to sync", EnvVars: []string{"TAGRELAY_ARGOCD_APP"}, Destination: &o.app},
		&cli.StringFlag{Name: "app-namespace", Usage: "`NAMESPACE` of the application, when Argo CD manages applications in other namespaces than its own", EnvVars: []string{"TAGRELAY_ARGOCD_APP_NAMESPACE"}, Destination: &o.appNamespace},
		&cli.StringFlag{Name: "token-file", Usage: "read the Argo CD token (a project role's token is enough) from `FILE`", EnvVars: []string{"TAGRELAY_ARGOCD_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Auth"},
		&cli.StringFlag{Name: "token", Usage: "the Argo CD token itself (prefer --token-file; for CI masked variables)", EnvVars: []string{"TAGRELAY_ARGOCD_TOKEN", "ARGOCD_AUTH_TOKEN"}, Destination: &o.token, Category: "Auth"},
		&cli.StringFlag{Name: "revision", Usage: "sync to `REVISION` (a commit, branch or tag) instead of the application's target revision", EnvVars: []string{"TAGRELAY_ARGOCD_REVISION"}, Destination: &o.revision},
		&cli.StringSliceFlag{Name: "expect-image", Usage: "`NAME:TAG` that must run when done (repeatable): refused (exit 3) when it already ran before and nothing rolled", EnvVars: []string{"TAGRELAY_EXPECT_IMAGE"}, Destination: &o.expect},
		&cli.BoolFlag{Name: "restart", Usage: "after the sync, restart the workloads of the expected images (all without --expect-image) with Argo CD's restart action, so the pods roll even when no image changed", EnvVars: []string{"TAGRELAY_RESTART"}, Destination: &o.restart},
		&cli.BoolFlag{Name: "prune", Usage: "delete the resources no longer in git, as argocd app sync --prune", EnvVars: []string{"TAGRELAY_ARGOCD_PRUNE"}, Destination: &o.prune},
		clirun.AllowNoopFlag(&o.allowNoop, "accept (exit 0, with a warning) a trigger that rolled nothing instead of refusing it (exit 3)", ""),
		&cli.BoolFlag{Name: "wait", Usage: "wait for the rollout: Synced, Healthy and the expected images running on ready pods; default: until the sync operation ended", EnvVars: []string{"TAGRELAY_WAIT"}, Destination: &o.wait, Category: "Wait"},
		clirun.TimeoutFlag(&o.timeout, 15*time.Minute, "give up after `DURATION` (exit 1 saying what it still waited for; exit 4 when another operation still ran)", "Wait", waitTimeoutVar),
	}
	flags = append(append(flags, tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "argocd",
		Usage: "refresh and sync an Argo CD application and exit with the rollout's verdict (3: the image already ran, nothing rolled)",
		UsageText: "tagrelay trigger argocd --server https://argocd.example --app web --token-file token \\\n" +
			"    --expect-image harbor.example/team/web:$CI_COMMIT_SHORT_SHA --wait",
		Description: "Through Argo CD's REST API (no argocd binary needed): refresh, wait for a sync operation that already runs,\n" +
			"sync (marked as ours), then follow the application until the operation ended and, with --wait, until it is\n" +
			"Synced at the synced revision, Healthy and the expected images run on ready pods. Exit 0: rolled out; 1: the sync\n" +
			"failed or pods of the new image fail (listed with their reasons), the token was refused, or --timeout; 3: the\n" +
			"expected image already ran before and nothing rolled (nothing is synced when the app was already Synced), or\n" +
			"the revision deploys another tag; 4: no such application, or another operation still ran at --timeout.\n" +
			"The token needs get and sync on the application (and action/apps/Deployment/restart for --restart).",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runArgoCD(c, env, o) },
	}
}

func runArgoCD(c *cli.Context, env *clirun.Env, o *argocdOptions) error {
	log, err := begin(c, env, &o.common)
	if err != nil {
		return err
	}
	if c.NArg() > 0 {
		return clirun.Usagef("pass the application with --app", "unexpected argument %q", c.Args().First())
	}
	server, err := argoServer(o.server)
	if err != nil {
		return err
	}
	if o.app == "" {
		return clirun.Usagef("pass --app NAME", "no Argo CD application given")
	}
	expect, err := parseImages(o.expect.Value())
	if err != nil {
		return err
	}
	token, err := env.Secret(o.token, o.tokenFile)
	if err != nil {
		return err
	}
	if strings.TrimSpace(token) == "" {
		return clirun.Usagef("pass --token-file FILE (or ARGOCD_AUTH_TOKEN)", "no Argo CD token")
	}
	httpc, err := o.tls.HTTPClient(env, log, server, 0) // no client timeout: the watch streams stay open; --timeout bounds the run
	if err != nil {
		return err
	}
	argo, err := gitops.NewArgoCD(server, token, gitops.WithHTTPClient(httpc), gitops.WithLogger(log))
	if err != nil {
		return err
	}
	ctx, cancel := clirun.WithTimeout(c.Context, o.timeout)
	defer cancel()
	log.Info("triggering sync", "app", o.app, "server", redact.URL(server), "wait", o.wait)
	res, err := argo.Sync(ctx, o.app, gitops.SyncOptions{AppNamespace: o.appNamespace, Revision: o.revision, Expect: expect,
		Restart: o.restart, Prune: o.prune, ApplyOnly: !o.wait})
	return emitGitOps(env, log, &o.common, res, certHint(err, "Argo CD server"), o.allowNoop,
		"push a new image tag, or re-run with --restart to roll the pods anyway (--allow-noop accepts it)")
}

// argoServer accepts https://HOST[:PORT] (http for a server run --insecure) and, as the argocd
// CLI's ARGOCD_SERVER holds it, a bare HOST[:PORT] meaning https.
func argoServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", clirun.Usagef("pass --server https://argocd.example (or ARGOCD_SERVER)", "no Argo CD server given")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", clirun.Usagef("use https://HOST[:PORT], without credentials (the token goes in --token-file)", "invalid Argo CD server %q", redact.URL(s))
	}
	return s, nil
}

func parseImages(refs []string) ([]gitops.Image, error) {
	var out []gitops.Image
	for _, r := range refs {
		img, err := gitops.ParseImage(r)
		if err != nil {
			return nil, errdefs.WithHint(err, "pass --expect-image REPOSITORY:TAG, as the image was pushed")
		}
		out = append(out, img)
	}
	return out, nil
}

// certHint gives an untrusted certificate the flags that fix it.
func certHint(err error, server string) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &verify) {
		return errdefs.WithHint(err, tlsflags.UntrustedHint(server))
	}
	return err
}

// gitopsResult is the JSON output of trigger argocd and trigger flux.
type gitopsResult struct {
	*gitops.Result
	Status string `json:"status"` // rolledOut, applied, noopAccepted
}

// emitGitOps writes a trigger's result, or returns its error with the flags that help; --allow-noop
// turns a refused no-op into success with a warning. noopHint is the command's next step when
// nothing rolled.
func emitGitOps(env *clirun.Env, log *slog.Logger, common *clirun.Common, res *gitops.Result, err error, allowNoop bool, noopHint string) error {
	if err != nil {
		switch {
		case errors.Is(err, gitops.ErrNothingRolled):
			err = errdefs.WithHint(err, noopHint)
		case errors.Is(err, gitops.ErrOperationRunning):
			err = errdefs.WithHint(err, "wait for it, terminate it (argocd app terminate-op), or raise --timeout")
		case errors.Is(err, context.DeadlineExceeded):
			err = errdefs.WithHint(err, "raise --timeout, or look at the application: it goes on without us")
		}
		if allowNoop && errors.Is(err, errdefs.ErrNoop) {
			clirun.NoopAccepted(log, err.Error())
			return env.Emit(common, map[string]string{"status": "noopAccepted", "reason": err.Error()}, "no-op accepted (--allow-noop): "+err.Error(),
				[]clirun.KV{{Key: "TAGRELAY_DEPLOY_STATUS", Value: "noopAccepted"}})
		}
		if errors.Is(err, gitops.ErrRolloutFailed) && errdefs.Hint(err) == "" {
			err = errdefs.WithHint(err, "look at the failing objects (kubectl describe, kubectl logs): fix and push a new tag; the reconciler goes on retrying")
		}
		return err
	}
	out := gitopsResult{Result: res, Status: "rolledOut"}
	if res.Applied {
		out.Status = "applied"
	}
	return env.Emit(common, out, res.Describe(), []clirun.KV{
		{Key: "TAGRELAY_DEPLOY_STATUS", Value: out.Status},
		{Key: "TAGRELAY_DEPLOY_REVISION", Value: res.Revision},
		{Key: "TAGRELAY_DEPLOY_IMAGES", Value: strings.Join(res.Images, ",")},
	})
}
