package exitcode

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

type codeErr int

func (c codeErr) Error() string { return "child failed" }
func (c codeErr) ExitCode() int { return int(c) }

func TestCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain", errors.New("boom"), Failure},
		{"invalid", errdefs.Invalid(errors.New("bad tag")), Usage},
		{"noop wrapped", fmt.Errorf("f: %w", errdefs.Noop(errors.New("same"))), Noop},
		{"not found", errdefs.NotFound(errors.New("x")), Precondition},
		{"conflict", errdefs.Conflict(errors.New("x")), Precondition},
		{"precondition", errdefs.Precondition(errors.New("x")), Precondition},
		{"unavailable", errdefs.Unavailable(errors.New("x")), Failure},
		{"canceled", fmt.Errorf("run: %w", context.Canceled), Interrupted},
		{"coder", fmt.Errorf("sync: %w", codeErr(3)), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Code(tc.err); got != tc.want {
				t.Errorf("Code(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
