package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// historyName is the ConfigMap holding an app's sync history, newest first, and its state
// (state.go).
func historyName(app string) string { return "tagrelay-history-" + app }

// The history must fit a ConfigMap (1 MiB): entries list at most maxHistoryObjects changed
// objects, and the oldest entries go when the whole exceeds maxHistoryBytes.
const (
	maxHistoryObjects = 50
	maxHistoryBytes   = 512 << 10
)

// outcome is what a finished sync tells the app's state besides its result.
type outcome struct {
	// handled: the sync deployed its commit, was refused, or failed its rollout; LastCommit
	// moves to it. An operational failure (git or cluster unreachable) is retried instead.
	handled bool
	// applied: the sync got past the guards to the apply step.
	applied bool
	// pinOver is the commit a rollback pins over (the app's revision at the time).
	pinOver string
	// hooks are the specs of the hooks the sync ran (hookPlan.ranSpecs); a successful sync
	// keeps them in State.Hooks for the no-op guard.
	hooks []string
}

// record prepends res to the app's history and moves its state on (advance). version is the
// fence of a server's sync (nil for the CLI, which reads again on conflicts).
func (r *Reconciler) record(ctx context.Context, res *Result, o outcome, version *string) error {
	_, err := r.writeState(ctx, res.App, version, func(st *State) error {
		st.advance(res, o, r.opts.HistoryLimit, time.Now().UTC())
		return nil
	})
	return err
}

// advance records res: its entry on top (object diffs and unchanged objects dropped), the
// last handled commit, the hooks of a successful sync, the rollback pin set or ended, and the
// in-flight mark of this sync gone.
func (st *State) advance(res *Result, o outcome, limit int, now time.Time) {
	st.History = append([]Result{historyEntry(res)}, st.History...)
	if limit > 0 && len(st.History) > limit {
		st.History = st.History[:limit]
	}
	if st.InFlight != nil && st.InFlight.ID == res.ID {
		st.InFlight = nil
	}
	if o.handled && res.Revision != "" {
		st.LastCommit = res.Revision
	}
	if o.applied && res.Status == api.StatusSucceeded {
		st.Hooks = o.hooks
	}
	switch {
	case !o.applied:
	case res.Rollback:
		st.Pin = &api.Pin{Revision: res.Revision, Over: o.pinOver, Caller: res.Caller, Since: res.Started}
	case st.Pin.Active() && res.Revision != st.Pin.Revision:
		st.Pin.Ended, st.Pin.EndedBy = &now, pinEnder(res)
	}
}

// pinEnder says what ended a pin: a poll's new commit, or someone's sync.
func pinEnder(res *Result) string {
	if res.Trigger == TriggerPoll {
		return "new commit " + api.ShortRevision(res.Revision)
	}
	by := res.Trigger
	if res.Caller != nil {
		by = res.Caller.String()
	}
	return fmt.Sprintf("sync of %s by %s", api.ShortRevision(res.Revision), by)
}

// historyEntry is res as the history keeps it: at most maxHistoryObjects changed objects,
// without diffs.
func historyEntry(res *Result) Result {
	entry := *res
	entry.Objects = nil
	changed := 0
	for _, o := range res.Objects {
		if o.Action == api.ActionUnchanged {
			continue
		}
		if changed++; changed <= maxHistoryObjects {
			entry.Objects = append(entry.Objects, api.ObjectChange{Object: o.Object, Action: o.Action})
		}
	}
	if changed > maxHistoryObjects {
		entry.Objects = append(entry.Objects, api.ObjectChange{Object: fmt.Sprintf("(%d more)", changed-maxHistoryObjects)})
	}
	return entry
}

// History returns the app's recorded syncs, newest first.
func (r *Reconciler) History(ctx context.Context, app string) ([]Result, error) {
	st, err := r.State(ctx, app)
	if err != nil {
		return nil, err
	}
	return st.History, nil
}
