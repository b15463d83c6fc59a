// Package clitest runs tagrelay commands in-process for their tests: a fresh app around the
// command, the given CI variables, captured output and the exit code, as cmd/tagrelay would.
// It also holds the file and secret assertions every command's tests share.
package clitest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/clirun"
)

// Result is what one in-process run produced.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// NewCommand builds the command under test for an Env.
type NewCommand func(*clirun.Env) *cli.Command

// Options change how Run runs the command.
type Options struct {
	// Vars are the variables the command sees through Env.Getenv.
	Vars map[string]string
	// Stdin is the input; TTY makes stderr a terminal (prompts, progress).
	Stdin string
	TTY   bool
}

// Run runs `tagrelay args...` with vars, where the app holds only the command(s) built by cmds,
// in a fresh working directory (so the default tag is not the test checkout's HEAD).
func Run(t testing.TB, cmds []NewCommand, vars map[string]string, args ...string) Result {
	t.Helper()
	return RunWith(t, cmds, Options{Vars: vars}, args...)
}

// RunWith is Run with stdin and a terminal.
func RunWith(t testing.TB, cmds []NewCommand, o Options, args ...string) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := clirun.NewEnv(strings.NewReader(o.Stdin), &stdout, &stderr, o.Vars)
	env.Dir, env.TTY = t.TempDir(), o.TTY
	code := clirun.Run(context.Background(), env, App(env, cmds...), append([]string{"tagrelay"}, args...))
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// App returns an app named tagrelay holding the commands built by cmds, for tests that make
// their own Env.
func App(env *clirun.Env, cmds ...NewCommand) *cli.App {
	app := &cli.App{Name: "tagrelay", Writer: env.Stdout, ErrWriter: env.Stderr, Reader: env.Stdin, HideHelpCommand: true}
	for _, c := range cmds {
		app.Commands = append(app.Commands, c(env))
	}
	return app
}

// AssertNoSecrets fails when a secret shows in any output.
func AssertNoSecrets(t testing.TB, r Result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("secret %q leaked:\nstdout: %s\nstderr: %s", s, r.Stdout, r.Stderr)
		}
	}
}

// SharedDir returns ../shared/sub next to the repository, or skips the test when it is absent (a
// clone outside the workplace).
func SharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found")
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not present: %v", p, err)
	}
	return p
}

// WriteFile writes content to dir/name (creating directories) and returns its path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ReadFile returns the content of p.
func ReadFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
