// Package exitcode maps errors to the process exit codes of every tagrelay binary, in one place.
//
//	0 done · 1 operational failure · 2 usage or input error · 3 no-op refused · 4 precondition failed
//
// Capability packages never know these numbers: they mark errors with an errdefs class and this
// table turns classes into codes.
package exitcode

import (
	"context"
	"errors"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// The exit codes, as documented in README.md and DESIGN.md.
const (
	OK           = 0
	Failure      = 1
	Usage        = 2
	Noop         = 3
	Precondition = 4
	// Interrupted is the conventional 128+SIGINT, returned when the run was cancelled by a signal.
	Interrupted = 130
)

// Coder is implemented by errors that carry their own exit code, such as the result of a child
// process or of a remote sync whose code is passed through (tagrelay trigger reconciler --wait).
type Coder interface {
	ExitCode() int
}

// table is checked in order; the first class that matches wins. A no-op is checked before the
// others because a refused no-op is never a failure of something else.
var table = []struct {
	class error
	code  int
}{
	{errdefs.ErrNoop, Noop},
	{errdefs.ErrInvalid, Usage},
	{errdefs.ErrNotFound, Precondition},
	{errdefs.ErrConflict, Precondition},
	{errdefs.ErrPrecondition, Precondition},
}

// Code returns the exit code for err: 0 for nil, the code of a Coder, the code of the error's
// class, Interrupted for a cancelled context, and Failure for everything else.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var c Coder
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	for _, row := range table {
		if errors.Is(err, row.class) {
			return row.code
		}
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Failure
}
