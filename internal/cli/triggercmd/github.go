package triggercmd

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

type githubOptions struct {
	common    clirun.Common
	wait      waitFlags
	tls       tlsflags.Options
	url       string
	repo      string
	workflow  string
	ref       string
	inputs    cli.StringSlice
	event     string
	payload   cli.StringSlice
	token     string
	tokenFile string
}

func newGitHubCommand(env *clirun.Env) *cli.Command {
	o := &githubOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "github-url", Usage: "GitHub API `URL` for GitHub Enterprise Server (default: GITHUB_API_URL, else api.github.com)", EnvVars: []string{"TAGRELAY_GITHUB_URL", "GITHUB_API_URL"}, Destination: &o.url},
		&cli.StringFlag{Name: "repo", Usage: "`OWNER/NAME` of the repository (default: GITHUB_REPOSITORY)", EnvVars: []string{"TAGRELAY_GITHUB_REPO"}, Destination: &o.repo},
		&cli.StringFlag{Name: "workflow", Usage: "workflow `FILE` (deploy.yml) or ID to dispatch (workflow_dispatch)", EnvVars: []string{"TAGRELAY_WORKFLOW"}, Destination: &o.workflow},
		&cli.StringFlag{Name: "ref", Usage: "branch or tag to run the workflow on", EnvVars: []string{"TAGRELAY_REF"}, Destination: &o.ref},
		&cli.StringSliceFlag{Name: "input", Usage: "workflow input `KEY=VALUE` (repeatable, at most 10)", EnvVars: []string{"TAGRELAY_INPUT"}, Destination: &o.inputs},
		&cli.StringFlag{Name: "event", Usage: "send a repository_dispatch event of `TYPE` instead of dispatching a workflow", EnvVars: []string{"TAGRELAY_EVENT"}, Destination: &o.event},
		&cli.StringSliceFlag{Name: "payload", Usage: "client_payload entry `KEY=VALUE` of the event (repeatable)", EnvVars: []string{"TAGRELAY_PAYLOAD"}, Destination: &o.payload},
		&cli.StringFlag{Name: "token", Usage: "`TOKEN` with actions:write (contents:write for --event) (default: GITHUB_TOKEN for the GitHub of GITHUB_SERVER_URL only, else GH_TOKEN)", EnvVars: []string{"TAGRELAY_GITHUB_TOKEN"}, Destination: &o.token, Category: "Auth"},
		&cli.StringFlag{Name: "token-file", Usage: "read the token from `FILE`", EnvVars: []string{"TAGRELAY_GITHUB_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Auth"},
	}
	flags = append(append(append(flags, o.wait.flags()...), tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "github",
		Usage: "dispatch a GitHub Actions workflow and, with --wait, follow its run; or send a repository_dispatch event",
		UsageText: "tagrelay trigger github --repo octo-org/infra --workflow deploy.yml --ref main --input tag=$TAG --wait\n" +
			"tagrelay trigger github --repo octo-org/infra --event deploy --payload image=app:1a2b3c4d",
		Description: "workflow_dispatch returns no run: the run is found as the first workflow_dispatch run of that workflow\n" +
			"on that ref created after the dispatch (by the server's clock), then followed. A repository_dispatch event\n" +
			"may start several workflows and cannot be followed. Calls that fail with 429, 5xx or a network error are\n" +
			"retried with backoff, also while waiting (a dispatch only when GitHub cannot have acted on it).",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runGitHub(c, env, o) },
	}
}

// ownerName is the OWNER/NAME of a GitHub repository, as opposed to the git URL bump reads from
// TAGRELAY_REPO.
var ownerName = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

func runGitHub(c *cli.Context, env *clirun.Env, o *githubOptions) error {
	log, err := begin(c, env, &o.common)
	if err != nil {
		return err
	}
	if err := env.Renamed(c, log, "repo", "TAGRELAY_REPO", "TAGRELAY_GITHUB_REPO", ownerName.MatchString); err != nil {
		return err
	}
	o.repo = cmp.Or(o.repo, env.Getenv("GITHUB_REPOSITORY"))
	if err := o.validate(); err != nil {
		return err
	}
	token, err := o.readToken(env, log)
	if err != nil {
		return err
	}
	client, err := o.tls.HTTPClient(env, log, cmp.Or(o.url, "https://api.github.com"), 0)
	if err != nil {
		return err
	}
	gh, err := forge.NewGitHub(o.url, token, forge.WithLogger(log), forge.WithHTTPClient(client))
	if err != nil {
		return err
	}
	ctx, cancel := clirun.WithTimeout(c.Context, o.wait.timeout)
	defer cancel()
	if o.event != "" {
		payload, err := parseVars("payload", o.payload.Value())
		if err != nil {
			return err
		}
		if err := gh.DispatchEvent(ctx, o.repo, o.event, payload); err != nil {
			return githubHints.apply(err)
		}
		return emitRun(env, &o.common, runResult{Forge: "github", Target: o.repo, Event: o.event}, nil, "run")
	}
	inputs, err := parseVars("input", o.inputs.Value())
	if err != nil {
		return err
	}
	run, err := gh.DispatchWorkflow(ctx, o.repo, o.workflow, o.ref, inputs, forge.WithPollInterval(min(o.wait.interval, 2*time.Second)))
	if errors.Is(err, context.DeadlineExceeded) {
		return errdefs.WithHint(err, "look at the repository's Actions tab; raise --timeout")
	}
	if err != nil {
		return githubHints.apply(err)
	}
	res := runResult{Forge: "github", Target: o.repo, Ref: o.ref, Run: run}
	return started(env, log, &o.common, res, "run", o.wait, func(opts ...forge.WaitOption) (*forge.Run, error) {
		r, err := gh.WaitRun(ctx, o.repo, run.ID, opts...)
		return r, githubHints.apply(err)
	})
}

// readToken returns --token or --token-file, else GITHUB_TOKEN when it may go to the API (it is
// the job token of the GitHub in GITHUB_SERVER_URL), else GH_TOKEN.
func (o *githubOptions) readToken(env *clirun.Env, log *slog.Logger) (string, error) {
	token, err := env.Secret(strings.TrimSpace(o.token), o.tokenFile)
	if token != "" || err != nil {
		return token, err
	}
	for _, v := range []string{"GITHUB_TOKEN", "GH_TOKEN"} {
		tok := strings.TrimSpace(env.Getenv(v))
		if tok == "" {
			continue
		}
		env.Redactor.Add(tok)
		err := gitauth.CheckJobToken(v, cmp.Or(o.url, "https://api.github.com"), env.Getenv, o.tls.Insecure)
		if errors.Is(err, gitauth.ErrPlainHTTP) {
			return "", clirun.Usagef("use the API's https:// URL, or pass --insecure to send it anyway", "refusing to send %v", err)
		}
		if err != nil {
			log.Warn("not sending the CI job token to this API", "variable", v, "reason", err.Error())
			continue
		}
		return tok, nil
	}
	return "", clirun.Usagef("pass GITHUB_TOKEN or --token-file", "no GitHub token given")
}

func (o *githubOptions) validate() error {
	switch {
	case o.repo == "":
		return clirun.Usagef("pass --repo OWNER/NAME", "no repository given")
	case o.event != "" && (o.workflow != "" || len(o.inputs.Value()) > 0 || o.wait.wait):
		return clirun.Usagef("use --event alone (a repository_dispatch cannot be followed), or --workflow", "--event cannot be combined with --workflow, --input or --wait")
	case o.event == "" && o.workflow == "":
		return clirun.Usagef("pass --workflow FILE (workflow_dispatch) or --event TYPE (repository_dispatch)", "nothing to trigger")
	case o.event == "" && o.ref == "":
		return clirun.Usagef("pass --ref BRANCH (or a tag)", "no ref given")
	}
	return nil
}

// githubHints name the flags that fix GitHub's answers.
var githubHints = forgeHints{
	http.StatusUnauthorized:        "the token is invalid, expired or revoked; check GITHUB_TOKEN or --token-file",
	http.StatusNotFound:            "check --repo and --workflow, and that the token can see the repository",
	http.StatusUnprocessableEntity: "check --ref and --input against the workflow's on.workflow_dispatch",
	0:                              "check --github-url and the network (proxy variables, VPN, firewall)",
}
