package gitops

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// The sentinels callers branch on, each on top of an errdefs class so the CLI maps it to an exit
// code (internal/exitcode).
var (
	// ErrNothingRolled (errdefs.ErrNoop, exit 3): the expected image already ran before the
	// trigger and nothing rolled, or, without an expected image, no container image changed.
	ErrNothingRolled = errdefs.Noop(errors.New("nothing rolled (no-op refused)"))
	// ErrImageNotDeployed (errdefs.ErrNoop, exit 3): the revision the reconciler deployed does
	// not run the expected image (another tag, or no workload of that repository): the bump has
	// not reached the branch the reconciler follows.
	ErrImageNotDeployed = errdefs.Noop(errors.New("expected image not deployed (no-op refused)"))
	// ErrRolloutFailed (exit 1): the sync or apply failed, or a workload failed to roll out.
	// The error is a *RolloutError listing the failing objects.
	ErrRolloutFailed = errors.New("rollout failed")
	// ErrOperationRunning (errdefs.ErrConflict, exit 4): another sync operation was still
	// running when the time ran out.
	ErrOperationRunning = errdefs.Conflict(errors.New("another sync operation is running"))
	// ErrUnauthorized (exit 1): the server refused the token (expired, revoked, invalid) or its
	// rights.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound (errdefs.ErrNotFound, exit 4): the application, Kustomization or source does
	// not exist.
	ErrNotFound = errdefs.NotFound(errors.New("not found"))
	// ErrSuspended (errdefs.ErrPrecondition, exit 4): the Kustomization or its source is
	// suspended, so it would never reconcile.
	ErrSuspended = errdefs.Precondition(errors.New("suspended"))
)

// Problem is one object that keeps a rollout from succeeding.
type Problem struct {
	// Object is "Kind namespace/name".
	Object string `json:"object"`
	// Status is the reconciler's word for its state: Degraded, SyncFailed, CrashLoopBackOff, …
	Status string `json:"status"`
	// Message says why, as the reconciler or the kubelet wrote it.
	Message string `json:"message,omitempty"`
}

func (p Problem) String() string {
	s := p.Object + " " + p.Status
	if p.Message != "" {
		s += ": " + p.Message
	}
	return s
}

// RolloutError is a failed sync or rollout: what failed, at which revision, and why.
type RolloutError struct {
	// Target is the application or Kustomization: "argocd app web", "flux kustomization apps/web".
	Target string
	// Revision is the revision that was being deployed, "" when unknown.
	Revision string
	// Reason is the reconciler's summary: the operation's message, the Ready condition.
	Reason string
	// Problems are the failing objects.
	Problems []Problem
}

// maxProblems bounds the objects an error lists.
const maxProblems = 5

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: rollout failed", e.Target)
	if e.Revision != "" {
		fmt.Fprintf(&b, " at %s", shortRev(e.Revision))
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	for i, p := range e.Problems {
		if i == maxProblems {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxProblems)
			break
		}
		fmt.Fprintf(&b, "; %s", p)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrRolloutFailed) true.
func (e *RolloutError) Unwrap() error { return ErrRolloutFailed }

// shortRev shortens a commit for messages: "main@sha1:0123456789ab…" → "main@sha1:01234567".
func shortRev(rev string) string {
	prefix, sha := "", rev
	if i := strings.LastIndexByte(rev, ':'); i >= 0 {
		prefix, sha = rev[:i+1], rev[i+1:]
	}
	if len(sha) == 40 || len(sha) == 64 {
		sha = sha[:8]
	}
	return prefix + sha
}
