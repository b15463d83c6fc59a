package clirun_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
)

func TestCacheDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"XDG_CACHE_HOME": "/var/cache/ci", "HOME": "/home/ci"}, "/var/cache/ci/tagrelay/mirror"},
		{map[string]string{"HOME": "/home/ci"}, "/home/ci/.cache/tagrelay/mirror"},
		{nil, ""}, // no shared temporary directory
		{map[string]string{"HOME": "relative"}, ""}, // nor a path relative to wherever the job runs
	} {
		env := clirun.NewEnv(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, tc.vars)
		got, err := env.CacheDir("mirror")
		if got != tc.want || (tc.want == "") != (exitcode.Code(err) == exitcode.Usage) {
			t.Errorf("CacheDir(%v) = %q, %v; want %q", tc.vars, got, err, tc.want)
		}
	}
}

func TestAcceptNoop(t *testing.T) {
	t.Parallel()
	noop := fmt.Errorf("wrapped: %w", errdefs.Noop(errors.New("tag already current")))
	other := errdefs.NotFound(errors.New("image not found"))
	for _, tc := range []struct {
		name  string
		allow bool
		err   error
		code  int
		hint  string
		warn  bool
	}{
		{"refused", false, noop, exitcode.Noop, "pass --allow-noop", false},
		{"accepted", true, noop, exitcode.OK, "", true},
		{"another error", true, other, exitcode.Precondition, "", false},
		{"success", true, nil, exitcode.OK, "", false},
	} {
		var logs bytes.Buffer
		err := clirun.AcceptNoop(slog.New(slog.NewTextHandler(&logs, nil)), tc.allow, tc.err, "pass --allow-noop")
		if exitcode.Code(err) != tc.code || errdefs.Hint(err) != tc.hint || strings.Contains(logs.String(), "no-op accepted") != tc.warn {
			t.Errorf("%s: AcceptNoop() = %v (exit %d, hint %q), logs %q", tc.name, err, exitcode.Code(err), errdefs.Hint(err), logs.String())
		}
	}
}
