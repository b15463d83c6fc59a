package mirror

import (
	"errors"
	"fmt"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Sentinels callers branch on. Each carries an errdefs class.
var (
	// ErrUnchanged: the destination already has every ref of the source in scope; nothing was
	// pushed.
	ErrUnchanged = errdefs.Noop(errors.New("destination already up to date"))
	// ErrNonFastForward: at least one ref would move backwards or sideways on the destination (or
	// a tag would move) and was not pushed; the other refs were, unless Options.Atomic.
	ErrNonFastForward = errdefs.Conflict(errors.New("non-fast-forward"))
	// ErrRefNotFound: a requested branch or tag does not exist in the source.
	ErrRefNotFound = errdefs.NotFound(errors.New("ref not found"))
	// ErrRefDeleted: a ref in scope was deleted in the source between the listing and the fetch
	// (it is also an ErrRefNotFound); running again mirrors the source as it is then.
	ErrRefDeleted = fmt.Errorf("%w: deleted in the source while mirroring", ErrRefNotFound)
	// ErrPruneScope: Prune was asked for without All or Tags, so nothing says which deleted refs
	// were the source's.
	ErrPruneScope = errdefs.Invalid(errors.New("prune needs all branches or all tags in scope"))
	// ErrInvalidRef: a requested ref is not a branch or a tag (or not a valid ref name).
	ErrInvalidRef = errdefs.Invalid(errors.New("invalid ref"))
	// ErrGitMissing: the git CLI is not installed or too old.
	ErrGitMissing = errors.New("git CLI not available")
	// ErrAuth: a remote refused the credentials (or needs some and got none).
	ErrAuth = errors.New("authentication failed")
	// ErrRepoNotFound: a remote repository does not exist or is not visible with the credentials.
	ErrRepoNotFound = errdefs.NotFound(errors.New("repository not found"))
	// ErrRejected: the destination refused the push (protected branch, hook, lease lost too often).
	ErrRejected = errdefs.Conflict(errors.New("push rejected"))
	// ErrLFSPointers: the commits to push hold Git LFS pointers and Options.LFS is off; nothing
	// was pushed.
	ErrLFSPointers = errdefs.Precondition(errors.New("LFS objects not mirrored"))
	// ErrLFSObject: an LFS object could not be copied: the source's LFS server lacks it, or it
	// sent other bytes than the pointer names; nothing was pushed.
	ErrLFSObject = errdefs.Precondition(errors.New("LFS object not copied"))
)
