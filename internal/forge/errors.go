package forge

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Error is a failed call to a forge's API. Its message says what was being done and what the
// forge answered (never a token); its hint, what that means. StatusCode lets a caller say what
// to fix in its own terms: the command line names its flags.
type Error struct {
	// StatusCode is the HTTP status of the answer; 0 when none came (the network failed).
	StatusCode int
	// Trigger is set for a GitLab pipeline trigger call, whose 404 means a wrong trigger token
	// as much as a missing project.
	Trigger bool
	err     error
}

func (e *Error) Error() string { return e.err.Error() }

// Unwrap returns the classified error (errdefs classes, hints, the client's own error).
func (e *Error) Unwrap() error { return e.err }

// AsError returns the forge error behind err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func apiErr(code int, err error) error { return &Error{StatusCode: code, err: err} }

// unanswered is a call to forge (at base) that got no answer: the context ended, or the network
// failed (a *Error with status 0).
func unanswered(forge, base, doing string, err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", doing, err)
	case errors.As(err, &netErr):
		return apiErr(0, errdefs.WithHint(errdefs.Unavailable(fmt.Errorf("%s: reaching %s: %w", doing, base, err)),
			"check the "+forge+" URL and the network (proxy variables, VPN, firewall)"))
	}
	return errdefs.Unavailable(fmt.Errorf("%s: %w", doing, err))
}
