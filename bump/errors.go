package bump

import (
	"errors"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Sentinels callers branch on. Each carries an errdefs class.
var (
	// ErrUnchanged: every requested image is already at the requested tag; nothing was written.
	ErrUnchanged = errdefs.Noop(errors.New("tag already current"))
	// ErrImageNotFound: a requested image appears in none of the files (or not at the --key).
	ErrImageNotFound = errdefs.NotFound(errors.New("image not found"))
	// ErrPinnedDigest: the image is pinned by digest next to its tag and no new digest was given,
	// so a tag-only bump would deploy nothing new.
	ErrPinnedDigest = errdefs.Precondition(errors.New("image pinned by digest"))
	// ErrUnsupported: the value cannot be rewritten without touching other bytes (an alias, an
	// escaped or block scalar).
	ErrUnsupported = errdefs.Precondition(errors.New("cannot rewrite in place"))
	// ErrInvalidYAML: a file to edit does not parse.
	ErrInvalidYAML = errdefs.Invalid(errors.New("invalid YAML"))
)
