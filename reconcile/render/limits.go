package render

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The defaults of Limits.
const (
	DefaultTimeout       = 60 * time.Second
	DefaultMaxBytes      = 32 << 20
	DefaultMaxObjects    = 5000
	DefaultMaxAliasNodes = 10000
)

// Limits bound what one render may cost. The zero value of a field means its default.
type Limits struct {
	// Timeout bounds the render. Default: 60s.
	Timeout time.Duration
	// MaxBytes bounds the rendered output (and the input files plain rendering decodes).
	// Default: 32 MiB.
	MaxBytes int64
	// MaxObjects bounds the number of rendered objects, hooks included. Default: 5,000.
	MaxObjects int
	// MaxAliasNodes bounds how many nodes the YAML aliases of all files of the render expand to,
	// checked before any parser sees a file. Default: 10,000 (a 9-wide alias list nested 4 deep
	// is 7,380 nodes: 47 MB in krusty; 5 deep, 66,429 nodes: 258 MB).
	MaxAliasNodes int64
	// AllowedHosts are the hosts (host or host:port, "*.example.com" for subdomains) that remote
	// Kustomize resources and bases (http(s) files, git repositories) and remote Helm
	// dependencies may come from. Default: none — any remote reference is refused before a
	// connection is made.
	AllowedHosts []string
}

// WithDefaults returns l with every unset field at its default.
func (l Limits) WithDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = DefaultMaxObjects
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = DefaultMaxAliasNodes
	}
	return l
}

// The sentinels of the limits; every one comes in a *LimitError.
var (
	// ErrTooLarge: the rendered output passes Limits.MaxBytes.
	ErrTooLarge = errors.New("rendered output too large")
	// ErrTooManyObjects: the render has more objects than Limits.MaxObjects.
	ErrTooManyObjects = errors.New("too many rendered objects")
	// ErrTimeout: the render took longer than Limits.Timeout.
	ErrTimeout = errors.New("render timed out")
	// ErrRemote: a remote base, resource or chart dependency whose host is not allowed, or that
	// cannot be fetched safely.
	ErrRemote = errors.New("remote reference refused")
)

// LimitError is a render stopped by a limit: what was measured, and the file to blame when
// there is one.
type LimitError struct {
	Err    error  // ErrAliasBomb, ErrTooLarge, ErrTooManyObjects, ErrTimeout or ErrRemote
	File   string // the file (repository path) to blame, "" when none is
	Detail string
}

func (e *LimitError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.File != "" {
		fmt.Fprintf(&b, ": %s", e.File)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	return b.String()
}

func (e *LimitError) Unwrap() error { return e.Err }

// sizeBudget counts rendered bytes and objects against the limits.
type sizeBudget struct {
	limits  Limits
	bytes   int64
	objects int
}

// addBytes counts n more bytes, from file (for the message).
func (s *sizeBudget) addBytes(file string, n int64) error {
	s.bytes += n
	if s.bytes <= s.limits.MaxBytes {
		return nil
	}
	return &LimitError{Err: ErrTooLarge, File: file,
		Detail: fmt.Sprintf("the render reached %s; the limit is %s", byteSize(s.bytes), byteSize(s.limits.MaxBytes))}
}

func (s *sizeBudget) addObjects(file string, n int) error {
	s.objects += n
	if s.objects <= s.limits.MaxObjects {
		return nil
	}
	return &LimitError{Err: ErrTooManyObjects, File: file,
		Detail: fmt.Sprintf("the render reached %d objects; the limit is %d", s.objects, s.limits.MaxObjects)}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
