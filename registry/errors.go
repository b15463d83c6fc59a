package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Sentinels callers branch on with errors.Is. Each carries an errdefs class, so the CLI maps it
// to an exit code without knowing this package.
var (
	// ErrNotFound: the tag, digest or repository does not exist in the registry (exit 4).
	ErrNotFound = errdefs.NotFound(errors.New("image not found"))
	// ErrTagExists: a tag already points at another digest and tags are immutable (exit 4).
	ErrTagExists = errdefs.Conflict(errors.New("tag exists with another digest"))
	// ErrUnchanged: every tag already points at the digest being pushed; nothing was written
	// (exit 3).
	ErrUnchanged = errdefs.Noop(errors.New("image already pushed"))
	// ErrUnauthorized: the registry refused the credentials, or they lack a permission (exit 1).
	ErrUnauthorized = errors.New("authentication failed")
	// ErrUntrusted: the registry's TLS certificate is not trusted (exit 1).
	ErrUntrusted = errors.New("TLS certificate not trusted")
	// ErrUnavailable: the registry cannot be reached or keeps failing (network, 429, 5xx) (exit 1).
	ErrUnavailable = errdefs.Unavailable(errors.New("registry unavailable"))
	// ErrInvalidReference: an image reference does not parse (exit 2).
	ErrInvalidReference = errdefs.Invalid(errors.New("invalid image reference"))
	// ErrInvalidSource: a local source is missing, unreadable or not an image (exit 2).
	ErrInvalidSource = errdefs.Invalid(errors.New("invalid source"))
	// ErrVulnerable: Harbor's scan found vulnerabilities at or above the allowed severity (exit 4).
	ErrVulnerable = errdefs.Precondition(errors.New("vulnerabilities found"))
	// ErrScan: Harbor's scan could not be read, failed or did not finish in time (exit 4).
	ErrScan = errdefs.Precondition(errors.New("vulnerability scan unavailable"))
)

// Error is a registry failure about one image: what was being done, to which reference, and
// why. Its message is one line; it unwraps to one of the sentinels above and to the cause.
type Error struct {
	Op    string // "pushing", "reading digest of"…
	Ref   string // the image or registry the operation was about
	Kind  error  // one of the sentinels
	Cause error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Kind)
	if e.Cause != nil {
		msg += ": " + oneLine(e.Cause.Error())
	}
	return msg
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Cause} }

// wrap classifies err, returned while doing op on ref, into an *Error with a hint. Errors that
// are already classified, and context cancellation, pass through unchanged.
func wrap(op, ref string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) {
		return err
	}
	hint, kind := classify(err)
	if kind == nil {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	return errdefs.WithHint(&Error{Op: op, Ref: ref, Kind: kind, Cause: cause(kind, err)}, hint)
}

// classify maps a transport, TLS or network error to a sentinel and the user's next step. The
// hints say what happened; the command that called knows which of its flags fix it and adds that.
func classify(err error) (hint string, kind error) {
	var terr *transport.Error
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	var netErr net.Error
	var opErr *net.OpError
	// TLS first: a failed ping of a loopback registry carries both the https error and the
	// answer to the plain-http retry.
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &certErr):
		return "the registry's certificate is signed by an authority this client does not trust", ErrUntrusted
	case errors.As(err, &hostErr):
		return "the certificate does not name this host; use the registry's real host name", ErrUntrusted
	case errors.As(err, &terr):
		return classifyStatus(terr)
	case errors.Is(err, context.DeadlineExceeded):
		return "the registry did not answer in time; check it is up", ErrUnavailable
	case errors.As(err, &opErr), errors.As(err, &netErr):
		return "check the registry host and port and that it is reachable from here", ErrUnavailable
	}
	return "", nil
}

func classifyStatus(terr *transport.Error) (hint string, kind error) {
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return "check the repository and tag, or wait for the build to push it", ErrNotFound
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return authHint, ErrUnauthorized
		}
	}
	switch {
	case terr.StatusCode == http.StatusNotFound:
		return "check the repository and tag, or wait for the build to push it", ErrNotFound
	case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
		return authHint, ErrUnauthorized
	case terr.StatusCode == http.StatusTooManyRequests || terr.StatusCode >= 500:
		return "the registry kept failing after retries; try again later", ErrUnavailable
	}
	return "", nil
}

const authHint = "check the registry credentials and the account's permissions on the repository"

// cause keeps the detail that helps: the registry's own message, without the request URL (which
// the Ref already names).
func cause(kind error, err error) error {
	switch kind {
	case ErrUntrusted:
		var unknownCA x509.UnknownAuthorityError
		if errors.As(err, &unknownCA) {
			return unknownCA
		}
		var certErr *tls.CertificateVerificationError
		if errors.As(err, &certErr) {
			return certErr.Err
		}
		var hostErr x509.HostnameError
		if errors.As(err, &hostErr) {
			return hostErr
		}
	case ErrUnavailable:
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return opErr
		}
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		if len(terr.Errors) > 0 {
			return errors.New(terr.Errors[0].String())
		}
		return fmt.Errorf("HTTP %d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
	}
	return err
}
