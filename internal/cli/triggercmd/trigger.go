// Package triggercmd is the tagrelay trigger command: start the next stage of the chain — a GitLab
// pipeline (gitlab.go), a GitHub workflow (github.go), a reconciler sync (reconciler.go) — and,
// with --wait, follow it to its end and exit with its result.
package triggercmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/forge"
)

// NewCommand returns the trigger command. Each target is a subcommand in its own file; add new
// ones to the list.
func NewCommand(env *clirun.Env) *cli.Command {
	return &cli.Command{
		Name:  "trigger",
		Usage: "start the next stage (a GitLab pipeline, a GitHub workflow, a reconciler, Argo CD or Flux sync) and, with --wait, exit with its result",
		Description: "With --wait the command exits with the result of what it started: 0 on success, 1 with the failed jobs\n" +
			"and their URLs otherwise, 1 with the last status seen on --timeout. Tokens are never printed.",
		Subcommands: []*cli.Command{
			newGitLabCommand(env),
			newGitHubCommand(env),
			newReconcilerCommand(env),
			newArgoCDCommand(env),
			newFluxCommand(env),
		},
	}
}

// waitTimeoutVar bounds the wait of every trigger. TAGRELAY_TIMEOUT bounds the whole run of push
// and mirror, so trigger reads it only as a deprecated fallback.
const waitTimeoutVar = "TAGRELAY_WAIT_TIMEOUT"

// waitFlags are the flags every forge target has for following what it started.
type waitFlags struct {
	wait     bool
	timeout  time.Duration
	interval time.Duration
}

func (w *waitFlags) flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "wait", Usage: "follow the run to its end and exit with its result", EnvVars: []string{"TAGRELAY_WAIT"}, Destination: &w.wait, Category: "Wait"},
		clirun.TimeoutFlag(&w.timeout, time.Hour, "give up after `DURATION`, starting and with --wait following the run (exit 1, saying the last status)", "Wait", waitTimeoutVar),
		&cli.DurationFlag{Name: "poll-interval", Value: 5 * time.Second, Usage: "with --wait, poll every `DURATION`", EnvVars: []string{"TAGRELAY_POLL_INTERVAL"}, Destination: &w.interval, Category: "Wait"},
	}
}

// begin starts the run of a trigger: its logger, and TAGRELAY_TIMEOUT read when
// TAGRELAY_WAIT_TIMEOUT and --timeout are not set.
func begin(c *cli.Context, env *clirun.Env, common *clirun.Common) (*slog.Logger, error) {
	log, err := env.Begin(common)
	if err != nil {
		return nil, err
	}
	return log, env.Renamed(c, log, "timeout", "TAGRELAY_TIMEOUT", waitTimeoutVar, nil)
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

// started emits the run started in res or, with --wait, follows it. The exit code is the run's:
// a *forge.RunFailure or a timeout (saying the last status); a failure to follow the run says
// that it was started all the same.
func started(env *clirun.Env, log *slog.Logger, common *clirun.Common, res runResult, kind string, w waitFlags,
	wait func(...forge.WaitOption) (*forge.Run, error)) error {
	started := res.Run
	log.Info(kind+" started", "id", started.ID, "url", started.URL)
	if !w.wait {
		return emitRun(env, common, res, nil, kind)
	}
	show, done := progress(env, kind)
	run, err := wait(forge.WithPollInterval(w.interval), forge.WithProgress(show))
	done()
	var f *forge.RunFailure
	switch {
	case errors.As(err, &f):
		err = errdefs.WithHint(err, "open the failed jobs' logs at the URLs above")
	case errors.Is(err, context.DeadlineExceeded):
		err = errdefs.WithHint(err, "raise --timeout, or look at the run; it goes on without us")
	case err != nil:
		return fmt.Errorf("%s %d started (%s), but following it failed: %w", kind, started.ID, started.URL, err)
	}
	res.Run = run
	return emitRun(env, common, res, err, kind)
}

// forgeHints are the flags that fix a forge's answer, by HTTP status (0: no answer).
type forgeHints map[int]string

// apply gives err, when it is a forge's answer with a status in h, that hint (the library's says
// what happened; this one which flag to change).
func (h forgeHints) apply(err error) error {
	fe, ok := forge.AsError(err)
	if !ok || h[fe.StatusCode] == "" {
		return err
	}
	return errdefs.WithHint(err, h[fe.StatusCode])
}
