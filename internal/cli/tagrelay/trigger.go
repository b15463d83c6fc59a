package tagrelay

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// NewTriggerCommand returns the trigger command: start the next stage of the chain and, with
// --wait, follow it to its end. Each target is a subcommand in its own file; add new ones to the
// list.
func NewTriggerCommand(env *clirun.Env) *cli.Command {
	return &cli.Command{
		Name:  "trigger",
		Usage: "start the next stage (a GitLab pipeline, a GitHub workflow, a reconciler sync) and, with --wait, exit with its result",
		Description: "With --wait the command exits with the result of what it started: 0 on success, 1 with the failed jobs\n" +
			"and their URLs otherwise, 1 with the last status seen on --timeout. Tokens are never printed.",
		Subcommands: []*cli.Command{
			newTriggerGitLabCommand(env),
			newTriggerGitHubCommand(env),
			newTriggerReconcilerCommand(env),
		},
	}
}

// waitFlags are the flags every trigger target has for following what it started.
type waitFlags struct {
	wait     bool
	timeout  time.Duration
	interval time.Duration
}

func (w *waitFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "wait", Usage: "follow the run to its end and exit with its result", EnvVars: []string{"TAGRELAY_WAIT"}, Destination: &w.wait, Category: "Wait"},
		&cli.DurationFlag{Name: "timeout", Value: time.Hour, Usage: "with --wait, give up after `DURATION` (exit 1, saying the last status)", EnvVars: []string{"TAGRELAY_TIMEOUT"}, Destination: &w.timeout, Category: "Wait"},
		&cli.DurationFlag{Name: "poll-interval", Value: 5 * time.Second, Usage: "with --wait, poll every `DURATION`", EnvVars: []string{"TAGRELAY_POLL_INTERVAL"}, Destination: &w.interval, Category: "Wait"},
	}
}

// context returns the context of the wait, bounded by --timeout.
func (w *waitFlags) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if w.timeout > 0 {
		return context.WithTimeout(ctx, w.timeout)
	}
	return context.WithCancel(ctx)
}

// progress prints one line per status change; on a terminal the line is rewritten in place.
func progress(env *clirun.Env, kind string) (func(forge.Run), func()) {
	start := time.Now()
	tty := env.TTY
	return func(r forge.Run) {
			state := runState(r)
			elapsed := time.Since(start).Round(time.Second)
			if tty {
				fmt.Fprintf(env.Stderr, "\r\033[K%s %d: %s after %s  %s", kind, r.ID, state, elapsed, r.URL)
				return
			}
			fmt.Fprintf(env.Stderr, "%s %d: %s after %s\n", kind, r.ID, state, elapsed)
		}, func() {
			if tty {
				fmt.Fprintln(env.Stderr)
			}
		}
}

// runState is a run's status, with its conclusion when that says more: "completed (failure)".
func runState(r forge.Run) string {
	if r.Conclusion != "" && r.Conclusion != r.Status {
		return r.Status + " (" + r.Conclusion + ")"
	}
	return r.Status
}

// varName is what GitLab CI and GitHub Actions accept as a variable or input name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// parseVars parses repeated KEY=VALUE flags; the value may contain "=".
func parseVars(flag string, values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !varName.MatchString(k) {
			return nil, clirun.Usagef(fmt.Sprintf("use --%s KEY=VALUE, KEY of letters, digits and _", flag), "invalid --%s %q", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// runResult is the output of a trigger.
type runResult struct {
	Forge      string      `json:"forge"`
	Target     string      `json:"target"` // project or repository
	Ref        string      `json:"ref,omitempty"`
	Event      string      `json:"event,omitempty"`
	Run        *forge.Run  `json:"run,omitempty"`
	FailedJobs []forge.Job `json:"failedJobs,omitempty"`
}

// emitRun writes the result and returns the run's failure, if any, so the exit code is the run's.
// kind ("pipeline", "run") names the run in the text and, upper-cased, the TAGRELAY_<KIND>_*
// variables.
func emitRun(env *clirun.Env, common *clirun.Common, res runResult, waitErr error, kind string) error {
	var f *forge.RunFailure
	if errors.As(waitErr, &f) {
		res.FailedJobs = f.Jobs
	}
	if res.Run == nil {
		return env.Emit(common, res, fmt.Sprintf("sent %s event to %s", res.Event, res.Target), nil)
	}
	r := res.Run
	text := fmt.Sprintf("%s %d %s: %s", kind, r.ID, runState(*r), r.URL)
	for _, j := range res.FailedJobs {
		text += fmt.Sprintf("\n  %s %s: %s", j.Status, j.Name, j.URL)
	}
	status := r.Status
	if r.Conclusion != "" {
		status = r.Conclusion
	}
	prefix := strings.ToUpper(kind)
	kv := []clirun.KV{
		{Key: "TAGRELAY_" + prefix + "_ID", Value: fmt.Sprint(r.ID)},
		{Key: "TAGRELAY_" + prefix + "_URL", Value: r.URL},
		{Key: "TAGRELAY_" + prefix + "_STATUS", Value: status},
	}
	if err := env.Emit(common, res, text, kv); err != nil {
		return err
	}
	return waitErr
}

// readToken reads a token from a value or file and registers it with the redactor.
func readToken(env *clirun.Env, value, file string) (string, error) {
	return env.Secret(strings.TrimSpace(value), file)
}

// follow waits for the run started in res, printing its progress, and emits the result. The
// exit code is the run's: a *forge.RunFailure or a timeout (saying the last status); a failure
// to follow the run says that it was started all the same.
func follow(env *clirun.Env, common *clirun.Common, res runResult, kind string, w waitFlags,
	wait func(...forge.WaitOption) (*forge.Run, error)) error {
	started := res.Run
	show, done := progress(env, kind)
	run, err := wait(forge.WithPollInterval(w.interval), forge.WithProgress(show))
	done()
	var f *forge.RunFailure
	switch {
	case errors.As(err, &f):
		err = errdefs.WithHint(err, "open the failed jobs' logs at the URLs above")
	case err != nil && !errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %d started (%s), but following it failed: %w", kind, started.ID, started.URL, err)
	}
	res.Run = run
	return emitRun(env, common, res, err, kind)
}

type triggerGitLabOptions struct {
	common       clirun.Common
	wait         waitFlags
	url          string
	project      string
	ref          string
	vars         cli.StringSlice
	triggerToken string
	triggerFile  string
	token        string
	tokenFile    string
}

func newTriggerGitLabCommand(env *clirun.Env) *cli.Command {
	o := &triggerGitLabOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab `URL` (default: CI_SERVER_URL, CI_API_V4_URL)", EnvVars: []string{"TAGRELAY_GITLAB_URL", "CI_SERVER_URL", "CI_API_V4_URL"}, Destination: &o.url},
		&cli.StringFlag{Name: "project", Usage: "`ID` or full path (group/app) of the project to run", EnvVars: []string{"TAGRELAY_PROJECT"}, Destination: &o.project},
		&cli.StringFlag{Name: "ref", Usage: "branch or tag to run the pipeline on", EnvVars: []string{"TAGRELAY_REF"}, Destination: &o.ref},
		&cli.StringSliceFlag{Name: "var", Usage: "pipeline variable `KEY=VALUE` (repeatable)", EnvVars: []string{"TAGRELAY_VAR"}, Destination: &o.vars},
		&cli.StringFlag{Name: "trigger-token", Usage: "pipeline trigger `TOKEN` (POST /projects/:id/trigger/pipeline); prefer the env var or --trigger-token-file", EnvVars: []string{"TAGRELAY_TRIGGER_TOKEN"}, Destination: &o.triggerToken, Category: "Auth"},
		&cli.StringFlag{Name: "trigger-token-file", Usage: "read the trigger token from `FILE`", EnvVars: []string{"TAGRELAY_TRIGGER_TOKEN_FILE"}, Destination: &o.triggerFile, TakesFile: true, Category: "Auth"},
		&cli.StringFlag{Name: "token", Usage: "API `TOKEN` (scope api; read_api is enough to follow a triggered pipeline); without a trigger token, POST /projects/:id/pipeline", EnvVars: []string{"TAGRELAY_GITLAB_TOKEN", "GITLAB_TOKEN"}, Destination: &o.token, Category: "Auth"},
		&cli.StringFlag{Name: "token-file", Usage: "read the API token from `FILE`", EnvVars: []string{"TAGRELAY_GITLAB_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Auth"},
	}
	flags = append(append(flags, o.wait.flags()...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "gitlab",
		Usage: "run a GitLab pipeline (trigger token or API token) and, with --wait, follow it",
		UsageText: "tagrelay trigger gitlab --project group/infra --ref main --trigger-token-file $TOKEN_FILE --var IMAGE_TAG=$CI_COMMIT_SHORT_SHA --wait\n" +
			"GITLAB_TOKEN=… tagrelay trigger gitlab --project 42 --ref main --wait --timeout 20m",
		Description: "With a trigger token the pipeline is started with POST /projects/:id/trigger/pipeline (the token goes in\n" +
			"the request body); otherwise with the API token and POST /projects/:id/pipeline. Following a pipeline\n" +
			"of a private project needs an API token (GITLAB_TOKEN) besides the trigger token.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runTriggerGitLab(c, env, o) },
	}
}

func runTriggerGitLab(c *cli.Context, env *clirun.Env, o *triggerGitLabOptions) error {
	log, err := env.Begin(&o.common)
	if err != nil {
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
	trigger, err := readToken(env, o.triggerToken, o.triggerFile)
	if err != nil {
		return err
	}
	token, err := readToken(env, o.token, o.tokenFile)
	if err != nil {
		return err
	}
	if trigger == "" && token == "" {
		return clirun.Usagef("pass --trigger-token-file (a pipeline trigger token) or an API token (GITLAB_TOKEN, --token-file)", "no GitLab token given")
	}
	gl, err := forge.NewGitLab(o.url, token, forge.WithLogger(log))
	if err != nil {
		return err
	}
	var run *forge.Run
	if trigger != "" {
		run, err = gl.TriggerPipeline(c.Context, o.project, o.ref, vars, trigger)
	} else {
		run, err = gl.CreatePipeline(c.Context, o.project, o.ref, vars)
	}
	if err != nil {
		return err
	}
	log.Info("pipeline created", "id", run.ID, "url", run.URL)
	res := runResult{Forge: "gitlab", Target: o.project, Ref: o.ref, Run: run}
	if !o.wait.wait {
		return emitRun(env, &o.common, res, nil, "pipeline")
	}
	ctx, cancel := o.wait.context(c.Context)
	defer cancel()
	return follow(env, &o.common, res, "pipeline", o.wait, func(opts ...forge.WaitOption) (*forge.Run, error) {
		return gl.WaitPipeline(ctx, o.project, run.ID, opts...)
	})
}

type triggerGitHubOptions struct {
	common    clirun.Common
	wait      waitFlags
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

func newTriggerGitHubCommand(env *clirun.Env) *cli.Command {
	o := &triggerGitHubOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "github-url", Usage: "GitHub API `URL` for GitHub Enterprise Server (default: GITHUB_API_URL, else api.github.com)", EnvVars: []string{"TAGRELAY_GITHUB_URL", "GITHUB_API_URL"}, Destination: &o.url},
		&cli.StringFlag{Name: "repo", Usage: "`OWNER/NAME` of the repository (default: GITHUB_REPOSITORY)", EnvVars: []string{"TAGRELAY_REPO", "GITHUB_REPOSITORY"}, Destination: &o.repo},
		&cli.StringFlag{Name: "workflow", Usage: "workflow `FILE` (deploy.yml) or ID to dispatch (workflow_dispatch)", EnvVars: []string{"TAGRELAY_WORKFLOW"}, Destination: &o.workflow},
		&cli.StringFlag{Name: "ref", Usage: "branch or tag to run the workflow on", EnvVars: []string{"TAGRELAY_REF"}, Destination: &o.ref},
		&cli.StringSliceFlag{Name: "input", Usage: "workflow input `KEY=VALUE` (repeatable, at most 10)", EnvVars: []string{"TAGRELAY_INPUT"}, Destination: &o.inputs},
		&cli.StringFlag{Name: "event", Usage: "send a repository_dispatch event of `TYPE` instead of dispatching a workflow", EnvVars: []string{"TAGRELAY_EVENT"}, Destination: &o.event},
		&cli.StringSliceFlag{Name: "payload", Usage: "client_payload entry `KEY=VALUE` of the event (repeatable)", EnvVars: []string{"TAGRELAY_PAYLOAD"}, Destination: &o.payload},
		&cli.StringFlag{Name: "token", Usage: "`TOKEN` with actions:write (contents:write for --event)", EnvVars: []string{"TAGRELAY_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"}, Destination: &o.token, Category: "Auth"},
		&cli.StringFlag{Name: "token-file", Usage: "read the token from `FILE`", EnvVars: []string{"TAGRELAY_GITHUB_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true, Category: "Auth"},
	}
	flags = append(append(flags, o.wait.flags()...), clirun.CommonFlags(&o.common)...)
	return &cli.Command{
		Name:  "github",
		Usage: "dispatch a GitHub Actions workflow and, with --wait, follow its run; or send a repository_dispatch event",
		UsageText: "tagrelay trigger github --repo octo-org/infra --workflow deploy.yml --ref main --input tag=$TAG --wait\n" +
			"tagrelay trigger github --repo octo-org/infra --event deploy --payload image=app:1a2b3c4d",
		Description: "workflow_dispatch returns no run: the run is found as the first workflow_dispatch run of that workflow\n" +
			"on that ref created after the dispatch (by the server's clock), then followed. A repository_dispatch event\n" +
			"may start several workflows and cannot be followed.",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runTriggerGitHub(c, env, o) },
	}
}

func runTriggerGitHub(c *cli.Context, env *clirun.Env, o *triggerGitHubOptions) error {
	log, err := env.Begin(&o.common)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	token, err := readToken(env, o.token, o.tokenFile)
	if err != nil {
		return err
	}
	if token == "" {
		return clirun.Usagef("pass GITHUB_TOKEN or --token-file", "no GitHub token given")
	}
	gh, err := forge.NewGitHub(o.url, token, forge.WithLogger(log))
	if err != nil {
		return err
	}
	if o.event != "" {
		payload, err := parseVars("payload", o.payload.Value())
		if err != nil {
			return err
		}
		if err := gh.DispatchEvent(c.Context, o.repo, o.event, payload); err != nil {
			return err
		}
		return emitRun(env, &o.common, runResult{Forge: "github", Target: o.repo, Event: o.event}, nil, "run")
	}
	inputs, err := parseVars("input", o.inputs.Value())
	if err != nil {
		return err
	}
	ctx, cancel := o.wait.context(c.Context)
	defer cancel()
	run, err := gh.DispatchWorkflow(ctx, o.repo, o.workflow, o.ref, inputs, forge.WithPollInterval(min(o.wait.interval, 2*time.Second)))
	if err != nil {
		return err
	}
	log.Info("workflow run started", "id", run.ID, "url", run.URL)
	res := runResult{Forge: "github", Target: o.repo, Ref: o.ref, Run: run}
	if !o.wait.wait {
		return emitRun(env, &o.common, res, nil, "run")
	}
	return follow(env, &o.common, res, "run", o.wait, func(opts ...forge.WaitOption) (*forge.Run, error) {
		return gh.WaitRun(ctx, o.repo, run.ID, opts...)
	})
}

func (o *triggerGitHubOptions) validate() error {
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
