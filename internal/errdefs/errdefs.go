// Package errdefs defines the classes of failure that every tagrelay package reports, so that the
// command-line layer can map them to exit codes in one place (internal/exitcode) without the
// capability packages knowing any exit code.
//
// A class is attached without changing the message:
//
//	return errdefs.NotFound(fmt.Errorf("image %s not found in %s", img, path))
//
// and tested with errors.Is(err, errdefs.ErrNotFound). Capability packages declare their own
// sentinels on top of a class (bump.ErrUnchanged wraps ErrNoop) so callers can branch precisely.
// The shape follows containerd's errdefs.
package errdefs

import "errors"

// The classes. Their messages are only shown when one is returned bare.
var (
	// ErrInvalid is bad input: a flag, a reference, a tag, unparsable YAML, an invalid config.
	ErrInvalid = errors.New("invalid input")
	// ErrNoop is a refused no-op: nothing would change, and nothing was written.
	ErrNoop = errors.New("nothing to change")
	// ErrNotFound is a missing target: an image absent from a file, a tag absent from a registry.
	ErrNotFound = errors.New("not found")
	// ErrConflict is a clash with existing state: a tag that points at another digest, a
	// non-fast-forward update, a push race lost more times than allowed.
	ErrConflict = errors.New("conflict")
	// ErrPrecondition is any other unmet precondition (a pinned digest that cannot be resolved,
	// a scan that found vulnerabilities, an object outside the allowed namespace).
	ErrPrecondition = errors.New("precondition failed")
	// ErrUnavailable is a transient or operational failure worth retrying (network, 5xx, 429).
	ErrUnavailable = errors.New("unavailable")
)

type classified struct {
	err, class error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.err, e.class} }

func classify(class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: class}
}

// Invalid marks err as ErrInvalid. It returns nil for a nil err, like every marker here.
func Invalid(err error) error { return classify(ErrInvalid, err) }

// Noop marks err as ErrNoop.
func Noop(err error) error { return classify(ErrNoop, err) }

// NotFound marks err as ErrNotFound.
func NotFound(err error) error { return classify(ErrNotFound, err) }

// Conflict marks err as ErrConflict.
func Conflict(err error) error { return classify(ErrConflict, err) }

// Precondition marks err as ErrPrecondition.
func Precondition(err error) error { return classify(ErrPrecondition, err) }

// Unavailable marks err as ErrUnavailable.
func Unavailable(err error) error { return classify(ErrUnavailable, err) }

type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

// WithHint attaches the next step a user should take ("re-run with --allow-noop to accept it").
// The CLI prints it after the message on the same line. The outermost hint wins: a library's
// hint is generic, while the command that wraps it knows the flags that fix it.
func WithHint(err error, hint string) error {
	if err == nil || hint == "" {
		return err
	}
	return &hinted{err: err, hint: hint}
}

// Hint returns the outermost hint attached to err, or "".
func Hint(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}
