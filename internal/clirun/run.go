// Package clirun is what every tagrelay binary shares around urfave/cli: the process environment
// (streams, env lookups, the secret redactor), the run loop that maps errors to exit codes and prints
// the one-line error, logging, result output (text, JSON, dotenv, $GITHUB_OUTPUT) and the CI-variable
// defaults of DESIGN.md.
package clirun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/redact"
)

// Env is the outside world of one run. Tests build their own; binaries use OSEnv.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer // results; wrapped by the redactor
	Stderr io.Writer // logs, progress, errors; wrapped by the redactor
	// Getenv looks up variables for CI defaults (CI_COMMIT_SHORT_SHA, GITHUB_OUTPUT...).
	// urfave/cli reads flag EnvVars from the process environment itself.
	Getenv func(string) string
	// Dir is the working directory used to find the local git repository; "" means the process's.
	Dir string
	// Redactor masks every secret the run has read.
	Redactor *redact.Redactor
	// TTY reports whether stderr is a terminal (progress bars and prompts).
	TTY bool

	jsonErrors bool
}

// OSEnv returns the environment of the current process.
func OSEnv() *Env {
	r := redact.New()
	return &Env{
		Stdin:    os.Stdin,
		Stdout:   r.Writer(os.Stdout),
		Stderr:   r.Writer(os.Stderr),
		Getenv:   os.Getenv,
		Redactor: r,
		TTY:      term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// NewEnv returns an Env over the given streams and variables, for tests and embedding.
func NewEnv(stdin io.Reader, stdout, stderr io.Writer, vars map[string]string) *Env {
	r := redact.New()
	return &Env{
		Stdin:    stdin,
		Stdout:   r.Writer(stdout),
		Stderr:   r.Writer(stderr),
		Getenv:   func(k string) string { return vars[k] },
		Redactor: r,
	}
}

// Main is the whole body of a main function: it runs the app with a context cancelled by SIGINT
// and SIGTERM and returns the exit code.
func Main(newApp func(*Env) *cli.App) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := OSEnv()
	return Run(ctx, env, newApp(env), os.Args)
}

// Run runs app with args and returns the exit code; a failure is printed as one line on stderr
// (and as a ::error:: annotation inside GitHub Actions).
func Run(ctx context.Context, env *Env, app *cli.App, args []string) int {
	prepare(app)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Code(err)
	env.printError(app.Name, err, code)
	return code
}

// prepare makes urfave/cli return errors instead of exiting, and classifies its usage errors.
func prepare(app *cli.App) {
	app.ExitErrHandler = func(*cli.Context, error) {}
	if app.OnUsageError == nil {
		app.OnUsageError = UsageError
	}
	if app.Action == nil && len(app.Commands) > 0 {
		app.Action = func(c *cli.Context) error {
			if c.Args().First() == "help" { // "tagrelay help bump", with the help command hidden
				if name := c.Args().Get(1); name != "" && app.Command(name) != nil {
					return cli.ShowCommandHelp(c, name)
				}
				return cli.ShowAppHelp(c)
			}
			if c.Args().Present() {
				return errdefs.WithHint(errdefs.Invalid(fmt.Errorf("unknown command %q", c.Args().First())),
					"run '"+app.Name+" --help' for the list of commands")
			}
			return cli.ShowAppHelp(c)
		}
	}
	for _, cmd := range app.Commands {
		prepareCommand(cmd)
	}
}

func prepareCommand(cmd *cli.Command) {
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = UsageError
	}
	for _, sub := range cmd.Subcommands {
		prepareCommand(sub)
	}
}

// UsageError is the OnUsageError of every app and command: a bad flag is an input error (exit 2).
func UsageError(c *cli.Context, err error, _ bool) error {
	return errdefs.WithHint(errdefs.Invalid(err), "see '"+c.Command.HelpName+" --help'")
}

// Usagef returns an input error (exit 2) with a hint.
func Usagef(hint, format string, args ...any) error {
	return errdefs.WithHint(errdefs.Invalid(fmt.Errorf(format, args...)), hint)
}

func (e *Env) printError(name string, err error, code int) {
	msg := oneLine(err.Error())
	hint := oneLine(errdefs.Hint(err))
	line := name + ": " + msg
	if hint != "" {
		line += "; " + hint
	}
	fmt.Fprintln(e.Stderr, line)
	if e.Getenv("GITHUB_ACTIONS") == "true" {
		// https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions#setting-an-error-message
		fmt.Fprintf(e.Stdout, "::error title=%s::%s\n", name, escapeAnnotation(msg+hintSuffix(hint)))
	}
	if e.jsonErrors {
		out, _ := json.Marshal(map[string]any{"error": msg, "hint": hint, "exitCode": code})
		fmt.Fprintln(e.Stdout, string(out))
	}
}

func hintSuffix(h string) string {
	if h == "" {
		return ""
	}
	return "; " + h
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func escapeAnnotation(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}
