package bump

import (
	"errors"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Sentinels callers branch on. Each carries an errdefs class.
var (
	// ErrUnchanged: every requested image is already at the requested tag; nothing was written.
	ErrUnchanged = errdefs.Noop(errors.New("tag already current"))
	// ErrImageNotFound: a requested image appears in none of the files (or not at its Key).
	ErrImageNotFound = errdefs.NotFound(errors.New("image not found"))
	// ErrPinnedDigest: the image is pinned by digest next to its tag and no new digest was given,
	// so a tag-only bump would deploy nothing new.
	ErrPinnedDigest = errdefs.Precondition(errors.New("image pinned by digest"))
	// ErrUnsupported: the value cannot be rewritten without touching other bytes (an alias, an
	// escaped or block scalar).
	ErrUnsupported = errdefs.Precondition(errors.New("cannot rewrite in place"))
	// ErrInvalidYAML: a file to edit does not parse.
	ErrInvalidYAML = errdefs.Invalid(errors.New("invalid YAML"))
	// ErrNoTarget: no image was given to bump.
	ErrNoTarget = errdefs.Invalid(errors.New("no image to bump"))
	// ErrSymlink: a path to edit is (or goes through) a symbolic link. Links are never followed:
	// the file behind one may be outside the tree, and rewriting a link's text would break it.
	ErrSymlink = errdefs.Invalid(errors.New("symbolic link"))
	// ErrOutsideTree: a path to edit climbs out of the tree (.., a leading /).
	ErrOutsideTree = errdefs.Invalid(errors.New("path outside the tree"))
)
