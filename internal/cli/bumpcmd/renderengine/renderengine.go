// Package renderengine is bump's render check with the reconciler's render code (Kustomize,
// Helm's template engine run in this binary's render-worker). The tagrelay binary installs it
// into bumpcmd; tagrelay-bump does not, so it links neither engine (internal/depcheck).
package renderengine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/bump"
	"github.com/tagrelay/tagrelay/bump/rendercheck"
	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile/render"
)

// WorkerCommand is the hidden command that runs one job of Helm templates for a render check:
// the render's isolation starts this binary with it (tagrelay render-worker).
const WorkerCommand = "render-worker"

// Checker is one render check; its methods are those bumpcmd.RenderChecker asks for.
type Checker struct{ c *rendercheck.Checker }

// New makes the check of s, or, when apps is not nil, of the reconciler app called app in
// that apps file (its path, type, values files, set values, allowed hosts and limits).
// Helm templates run in this binary's render-worker, as in the reconciler.
func New(s bump.RenderSettings, apps []byte, app string) (*Checker, error) {
	var limits render.Limits
	if apps != nil {
		var err error
		if s, limits, err = rendercheck.AppSettings(apps, app); err != nil {
			return nil, err
		}
	}
	iso, err := workerIsolation()
	if err != nil {
		return nil, err
	}
	c, err := rendercheck.New(s, render.Options{Limits: limits, Isolation: iso})
	if err != nil {
		return nil, err
	}
	return &Checker{c: c}, nil
}

// Settings are the render settings, to be adjusted (Path) before a check.
func (c *Checker) Settings() *bump.RenderSettings { return &c.c.Settings }

// Check renders fsys with the edit of res and checks that every target runs.
func (c *Checker) Check(ctx context.Context, fsys fs.FS, res *bump.Result, targets []bump.Target) error {
	return c.c.Check(ctx, fsys, res, targets)
}

// Explain returns the chain of inputs that decide repo's tag in the render of fsys.
func (c *Checker) Explain(ctx context.Context, fsys fs.FS, repo string) (interface{ Text() string }, error) {
	e, err := c.c.Explain(ctx, fsys, repo)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// RenderCheck is the render check of settings: what tagrelay release runs for infra.render.
func RenderCheck(s bump.RenderSettings) (bump.RenderCheck, error) {
	c, err := New(s, nil, "")
	if err != nil {
		return nil, err
	}
	return c.c.Func(), nil
}

// workerIsolation runs Helm templates in this binary's render-worker, as the reconciler does.
func workerIsolation() (*render.Isolation, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary for the template worker: %w", err)
	}
	return &render.Isolation{Command: []string{exe, WorkerCommand}}, nil
}

// RunWorker runs one job of Helm templates from in to out; the exit code of the worker.
func RunWorker(in io.Reader, out, errOut io.Writer) int {
	if err := render.RunWorker(in, out); err != nil {
		fmt.Fprintln(errOut, render.WorkerError(err))
		return 3
	}
	return 0
}

// NewWorkerCommand is render-worker for the tagrelay app: hidden, not for people.
func NewWorkerCommand(env *clirun.Env) *cli.Command {
	return &cli.Command{
		Name:   WorkerCommand,
		Usage:  "run one job of Helm templates from stdin (started by bump --render; not for people)",
		Hidden: true,
		Action: func(*cli.Context) error {
			if code := RunWorker(env.Stdin, env.Stdout, env.Stderr); code != 0 {
				return cli.Exit("", code)
			}
			return nil
		},
	}
}
