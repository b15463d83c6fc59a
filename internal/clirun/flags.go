package clirun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// AllowNoopFlag returns --allow-noop bound to dest; usage says what the command accepts.
func AllowNoopFlag(dest *bool, usage, category string) cli.Flag {
	return &cli.BoolFlag{Name: "allow-noop", Usage: usage, EnvVars: []string{"TAGRELAY_ALLOW_NOOP"}, Destination: dest, Category: category}
}

// AcceptNoop is the one warn-or-refuse of --allow-noop: a refused no-op (an errdefs.ErrNoop error)
// becomes success with a warning when allow is set, or keeps its exit code 3 with hint (the
// library's when ""). Any other error, and nil, pass through.
func AcceptNoop(log *slog.Logger, allow bool, err error, hint string) error {
	if err == nil || !errors.Is(err, errdefs.ErrNoop) {
		return err
	}
	if allow {
		NoopAccepted(log, err.Error())
		return nil
	}
	return errdefs.WithHint(err, hint)
}

// NoopAccepted logs the warning of an accepted no-op: what did not change.
func NoopAccepted(log *slog.Logger, reason string, args ...any) {
	log.Warn("no-op accepted (--allow-noop): nothing changed", append([]any{"reason", reason}, args...)...)
}

// TimeoutFlag returns --timeout bound to dest, with its default and variables; usage says what
// it bounds (the whole run, or a wait).
func TimeoutFlag(dest *time.Duration, value time.Duration, usage, category string, envVars ...string) cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: value, Usage: usage, EnvVars: envVars, Destination: dest, Category: category}
}

// WithTimeout bounds ctx by d, the value of a --timeout; 0 (or less) means no bound.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// CacheDir returns the directory of the command's persistent cache, the default of --cache-dir:
// $XDG_CACHE_HOME/tagrelay/sub, else $HOME/.cache/tagrelay/sub. Without either it is an input
// error: a directory in the shared temporary directory would let other users of the machine read
// the cache and plant objects in it.
func (e *Env) CacheDir(sub string) (string, error) {
	base := e.Getenv("XDG_CACHE_HOME")
	if base == "" {
		if home := e.Getenv("HOME"); home != "" {
			base = filepath.Join(home, ".cache")
		}
	}
	if base == "" || !filepath.IsAbs(base) {
		return "", Usagef("pass --cache-dir DIR (or set XDG_CACHE_HOME or HOME)", "no cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path")
	}
	return filepath.Join(base, "tagrelay", sub), nil
}

// Renamed keeps an environment variable that a flag no longer lists working for a while: when
// the flag was set neither on the command line nor by its own variables, and old is set, the flag
// takes old's value with a warning naming replacement. accept, when not nil, says whether a value
// is meant for this command (another command may read old with another meaning); a value it
// refuses is left alone.
func (e *Env) Renamed(c *cli.Context, log *slog.Logger, flag, old, replacement string, accept func(string) bool) error {
	v := strings.TrimSpace(e.Getenv(old))
	if v == "" || c.IsSet(flag) || (accept != nil && !accept(v)) {
		return nil
	}
	if err := c.Set(flag, v); err != nil {
		return Usagef(fmt.Sprintf("set %s instead", replacement), "invalid %s %q: %v", old, v, err)
	}
	log.Warn(fmt.Sprintf("%s is deprecated for '%s': set %s", old, c.Command.HelpName, replacement), "flag", "--"+flag)
	return nil
}
