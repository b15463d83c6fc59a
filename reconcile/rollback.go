package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The pin's sentinels.
var (
	// ErrNotPinned: an unpin of an app that is not pinned (a no-op, exit 3, HTTP 409).
	ErrNotPinned = errors.New("not pinned")
	// ErrPinned: a sync trigger of the very commit a rollback pinned over (exit 4, HTTP 412).
	ErrPinned = errors.New("pinned by a rollback")
)

// Rollback syncs app at an earlier revision and pins it there: polls do not deploy the commit
// the app's revision points at now (the pin's Over) again; a new commit, a sync of one, or Unpin
// ends the pin. The target is a history entry or a commit (api.RollbackTarget; zero: the newest
// successfully synced commit other than the running one). The no-op guard applies: rolling
// back to what runs is refused (ErrNoImageChange) unless opts.AllowNoop. opts.State, when set,
// fences the sync and gives the history.
func (r *Reconciler) Rollback(ctx context.Context, app App, to api.RollbackTarget, opts SyncOptions) (*Result, error) {
	hist := []Result(nil)
	if opts.State != nil {
		hist = opts.State.History
	} else {
		var err error
		if hist, err = r.History(ctx, app.Name); err != nil {
			return nil, err
		}
	}
	rev, err := RollbackTarget(hist, to)
	if err != nil {
		return nil, err
	}
	head, err := r.git.Resolve(ctx, app)
	if err != nil {
		return nil, err
	}
	opts.Revision, opts.Rollback, opts.PinOver, opts.Guard = rev, true, head.Commit.String(), true
	return r.Sync(ctx, app, opts)
}

// RollbackTarget returns the commit of a rollback target in hist (newest first): entry N
// (1-based), a full commit hash, a prefix of a recorded revision, or by default the newest
// successfully synced commit other than the one of the newest successful sync.
func RollbackTarget(hist []Result, to api.RollbackTarget) (string, error) {
	switch {
	case to.Entry > 0:
		if to.Entry > len(hist) || hist[to.Entry-1].Revision == "" {
			return "", errdefs.WithHint(errdefs.Invalid(fmt.Errorf("no history entry %d with a revision (the history has %d)", to.Entry, len(hist))),
				"pick an entry listed by 'history'")
		}
		return hist[to.Entry-1].Revision, nil
	case len(to.Revision) == 40:
		return to.Revision, nil
	case to.Revision != "":
		for _, h := range hist {
			if strings.HasPrefix(h.Revision, to.Revision) {
				return h.Revision, nil
			}
		}
		return "", errdefs.WithHint(errdefs.NotFound(fmt.Errorf("no recorded revision starts with %s", to.Revision)),
			"pass the full 40-character commit hash, or an entry number listed by 'history'")
	}
	current := ""
	for _, h := range hist {
		switch {
		case h.ExitCode != 0 || h.Revision == "" || h.Status != api.StatusSucceeded:
		case current == "":
			current = h.Revision
		case h.Revision != current:
			return h.Revision, nil
		}
	}
	return "", errdefs.WithHint(errdefs.NotFound(errors.New("no earlier successful sync to roll back to")), "pass an entry number or a commit")
}

// Unpin ends the app's rollback pin and returns it; the next poll deploys the app's revision.
// An app that is not pinned is ErrNotPinned. st, when set, fences the write (see SyncOptions.State).
func (r *Reconciler) Unpin(ctx context.Context, app string, caller *api.Caller, st *State) (*api.Pin, error) {
	var version *string
	if st != nil {
		version = &st.version
	}
	var pin *api.Pin
	_, err := r.writeState(ctx, app, version, func(s *State) error {
		if !s.Pin.Active() {
			return errdefs.WithHint(errdefs.Noop(fmt.Errorf("app %s: %w", app, ErrNotPinned)), "nothing to unpin")
		}
		now := time.Now().UTC()
		s.Pin.Ended, s.Pin.EndedBy = &now, "unpin by "+caller.String()
		pin = s.Pin
		return nil
	})
	return pin, err
}

// pinnedError is a trigger refused because it would redeploy the commit a rollback pinned over.
func pinnedError(app string, pin *api.Pin) error {
	return errdefs.WithHint(errdefs.Precondition(fmt.Errorf("app %s: %w: it runs %s, rolled back by %s over %s, which is still the app's revision",
		app, ErrPinned, api.ShortRevision(pin.Revision), pin.Caller.String(), api.ShortRevision(pin.Over))),
		"push a new commit, or unpin (DELETE /api/v1/apps/"+app+"/pin) to deploy it again")
}
