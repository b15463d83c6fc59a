package triggercmd

import (
	"net/http"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/cli/tlsflags"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/forge"
)

type gitlabOptions struct {
	common       clirun.Common
	wait         waitFlags
	tls          tlsflags.Options
	url          string
	project      string
	ref          string
	vars         cli.StringSlice
	triggerToken string
	triggerFile  string
	token        string
	tokenFile    string
}

func newGitLabCommand(env *clirun.Env) *cli.Command {
	o := &gitlabOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab `URL` (default: CI_SERVER_URL, CI_API_V4_URL)", EnvVars: []string{"TAGRELAY_GITLAB_URL", "CI_SERVER_URL", "CI_API_V4_URL"}, Destination: &o.url},
		&cli.StringFlag{Name: "project", Usage: "`ID` or full path (group/app) of the project to run", EnvVars: []string{"TAGRELAY_GITLAB_PROJECT"}, Destination: &o.project},
		&cli.StringFlag{Name: "ref", Usage: "branch or tag to run the pipeline on", EnvVars: []string{"TAGRELAY_REF"}, Destination: &o.ref},
		&cli.StringSliceFlag{Name: "var", Usage: "pipeline variable `KEY=VALUE` (repeatable)", EnvVars: []string{"TAGRELAY_VAR"}, Destination: &o.vars},
		&cli.StringFlag{Name: "trigger-token", Usage: "pipeline trigger `TOKEN` (POST /projects/:id/trigger/pipeline); prefer the env var or --trigger-token-file", EnvVars: []string{"TAGRELAY_TRIGGER_TOKEN"}, Destination: &o.triggerToken, Category: "Auth"},
		&cli.StringFlag{Name: "trigger-token-file", Usage: "read the trigger token from `FILE`", EnvVars: []string{"TAGRELAY_TRIGGER_TOKEN_FILE"}, Destination: &o.triggerFile, TakesFile: true, Category: "Auth"},
		&cli.StringFlag{Name: "token", Usage: "API `TOKEN` (scope api; read_api is enough to follow a triggered pipeline); without a trigger token, POST /projects/:id/pipeline", EnvVars: []string{"TAGRELAY_GITLAB_TOKEN", "GITLAB_TOKEN"}, Destination: &o.token, Category: "Auth"},
		&cli.StringFlag{Name: "token-file", Usage: "read the API token from `FILE`", EnvVars: []string{"TAGRELAY_GITLAB_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Auth"},
	}
	flags = append(append(append(flags, o.wait.flags()...), tlsflags.Flags(&o.tls)...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "gitlab",
		Usage: "run a GitLab pipeline (trigger token or API token) and, with --wait, follow it",
		UsageText: "tagrelay trigger gitlab --project group/infra --ref main --trigger-token-file $TOKEN_FILE --var IMAGE_TAG=$CI_COMMIT_SHORT_SHA --wait\n" +
			"GITLAB_TOKEN=… tagrelay trigger gitlab --project 42 --ref main --wait --timeout 20m",
		Description: "With a trigger token the pipeline is started with POST /projects/:id/trigger/pipeline (the token goes in\n" +
			"the request body); otherwise with the API token and POST /projects/:id/pipeline. Following a pipeline\n" +
			"of a private project needs an API token (GITLAB_TOKEN) besides the trigger token. Calls that fail\n" +
			"with 429, 5xx or a network error are retried with backoff, also while waiting.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runGitLab(c, env, o) },
	}
}

func runGitLab(c *cli.Context, env *clirun.Env, o *gitlabOptions) error {
	log, err := begin(c, env, &o.common)
	if err != nil {
		return err
	}
	if err := env.Renamed(c, log, "project", "TAGRELAY_PROJECT", "TAGRELAY_GITLAB_PROJECT", nil); err != nil {
		return err
	}
	vars, err := parseVars("var", o.vars.Value())
	if err != nil {
		return err
	}
	switch {
	case o.url == "":
		return clirun.Usagef("pass --gitlab-url, or run in GitLab CI (CI_SERVER_URL)", "no GitLab URL given")
	case o.project == "":
		return clirun.Usagef("pass --project ID or --project group/app", "no project given")
	case o.ref == "":
		return clirun.Usagef("pass --ref BRANCH (or a tag)", "no ref given")
	}
	trigger, err := env.Secret(strings.TrimSpace(o.triggerToken), o.triggerFile)
	if err != nil {
		return err
	}
	token, err := env.Secret(strings.TrimSpace(o.token), o.tokenFile)
	if err != nil {
		return err
	}
	if trigger == "" && token == "" {
		return clirun.Usagef("pass --trigger-token-file (a pipeline trigger token) or an API token (GITLAB_TOKEN, --token-file)", "no GitLab token given")
	}
	client, err := o.tls.HTTPClient(env, log, o.url, 0)
	if err != nil {
		return err
	}
	gl, err := forge.NewGitLab(o.url, token, forge.WithLogger(log), forge.WithHTTPClient(client))
	if err != nil {
		return err
	}
	hints := gitlabHints(token != "")
	ctx, cancel := clirun.WithTimeout(c.Context, o.wait.timeout)
	defer cancel()
	var run *forge.Run
	if trigger != "" {
		run, err = gl.TriggerPipeline(ctx, o.project, o.ref, vars, trigger)
	} else {
		run, err = gl.CreatePipeline(ctx, o.project, o.ref, vars)
	}
	if fe, ok := forge.AsError(err); ok && fe.Trigger && fe.StatusCode == http.StatusNotFound {
		return errdefs.WithHint(err, "check --trigger-token and --project (ID or full path, e.g. group/app)")
	}
	if err != nil {
		return hints.apply(err)
	}
	res := runResult{Forge: "gitlab", Target: o.project, Ref: o.ref, Run: run}
	return started(env, log, &o.common, res, "pipeline", o.wait, func(opts ...forge.WaitOption) (*forge.Run, error) {
		r, err := gl.WaitPipeline(ctx, o.project, run.ID, opts...)
		return r, hints.apply(err)
	})
}

// gitlabHints name the flags that fix GitLab's answers.
func gitlabHints(hasToken bool) forgeHints {
	h := forgeHints{
		http.StatusBadRequest: "check --ref (a branch or tag of the project) and the variables",
		http.StatusNotFound:   "check --project (ID or full path, e.g. group/app) and that the token can see it",
		0:                     "check --gitlab-url and the network (proxy variables, VPN, firewall)",
	}
	if hasToken {
		h[http.StatusUnauthorized] = "the API token is invalid, expired or revoked; check GITLAB_TOKEN or --token-file"
	} else {
		h[http.StatusUnauthorized] = "pass a valid API token (GITLAB_TOKEN or --token-file)"
		h[http.StatusNotFound] = "the project is not public: pass an API token (GITLAB_TOKEN, scope read_api) to see it"
	}
	return h
}
