package reconcile

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// job is work on one app that runs on the replica holding its shard, under the app's lock and
// a slot of the sync pool, with the app's state freshly read from the cluster. It returns the
// result of the sync it ran, nil for none. A sync gives its slot back once applied
// (slot.onApplied): its health wait holds none.
type job func(ctx context.Context, state *State, sl *slot) *Result

// errBusy: the app's lock is held and the caller would rather skip than wait.
var errBusy = errors.New("a sync of the app is running")

// locked runs j under st's lock on its shard's context. It waits for the lock while ctx lasts
// (wait) or gives up at once (errBusy); it fails with errNotLeader when this replica does not
// hold the app's shard or drains. prio puts j before the polls waiting for the pool (triggers,
// webhooks). The channel receives j's result once it returned.
func (s *Server) locked(ctx context.Context, st *appState, wait, prio bool, j job) (<-chan *Result, error) {
	if wait {
		select {
		case st.lock <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	} else {
		select {
		case st.lock <- struct{}{}:
		default:
			return nil, errBusy
		}
	}
	sh := s.shardFor(st)
	work, ok := sh.begin()
	if !ok {
		<-st.lock
		return nil, errNotLeader
	}
	done := make(chan *Result, 1)
	go func() {
		defer sh.syncs.Done()
		defer func() { <-st.lock }()
		done <- s.runJob(work, st, prio, j)
	}()
	return done, nil
}

// runJob takes a slot of the pool, reads the app's state and runs j on it — after the sync a
// replica left in flight, if any, so that no sync is lost to a new one. The console's open
// pages see the app syncing, then its new state (syncStarted, syncEnded).
func (s *Server) runJob(ctx context.Context, st *appState, prio bool, j job) (res *Result) {
	sl, err := s.pool.acquire(ctx, prio)
	if err != nil {
		return errorResult(st.name, "", stopped(ctx))
	}
	defer sl.release()
	st.mu.Lock()
	st.syncing = true
	removed := st.removed
	st.mu.Unlock()
	s.syncStarted(st)
	defer func() {
		st.mu.Lock()
		st.syncing = false
		st.mu.Unlock()
		s.syncEnded(ctx, st, res)
	}()
	state, err := s.read(ctx, st)
	if err == nil && state.InFlight != nil && !removed {
		if res := s.resume(ctx, st, state, sl); res != nil {
			s.observe(res)
		}
		if err = sl.hold(ctx, prio); err == nil {
			state, err = s.read(ctx, st)
		}
	}
	if err != nil {
		res := errorResult(st.name, "", err)
		s.observe(res)
		return res
	}
	res = j(ctx, state, sl)
	if res != nil {
		_, _ = s.read(context.WithoutCancel(ctx), st)
		s.observe(res)
	}
	return res
}

// read reads the app's state from the cluster and caches it.
func (s *Server) read(ctx context.Context, st *appState) (*State, error) {
	state, err := s.r.State(ctx, st.name)
	if err == nil {
		st.setState(state)
	}
	return state, err
}

// observe counts and logs a result.
func (s *Server) observe(res *Result) {
	s.metrics.observe(res)
	log := s.log.Info
	if res.ExitCode != 0 {
		log = s.log.Warn
	}
	log("sync", "app", res.App, "id", res.ID, "trigger", res.Trigger, "caller", res.Caller.String(),
		"revision", api.ShortRevision(res.Revision), "status", res.Status,
		"duration", time.Duration(res.Duration).Round(time.Millisecond), "message", res.Message)
}

// pollVerdict says why a poll that found head does not sync: "unchanged" (handled already),
// "pinned" (a rollback pinned over it); "" when it syncs.
func pollVerdict(state *State, head string) string {
	switch {
	case state.InFlight != nil:
		return "" // left in flight: run it (again)
	case state.LastCommit == head:
		return "unchanged"
	case state.Pin.Active() && state.Pin.Over == head:
		return "pinned"
	}
	return ""
}

// resume runs again the sync a replica left in flight: same ID, caller, commit and pin,
// without the no-op guard (it passed it, and may have applied already).
func (s *Server) resume(ctx context.Context, st *appState, state *State, sl *slot) *Result {
	f := state.InFlight
	s.log.Info("running again a sync left in flight", "app", st.name, "id", f.ID, "from", f.Replica,
		"revision", api.ShortRevision(f.Revision))
	res, _ := s.r.Sync(ctx, st.spec(), SyncOptions{Trigger: f.Trigger, Caller: f.Caller, Revision: f.Revision,
		Rollback: f.Rollback, PinOver: f.PinOver, Restart: f.Restart, ID: f.ID, ResumedFrom: f.Replica, resumed: f, State: state,
		OnApplied: sl.onApplied(nil)})
	return res
}

// errorResult is the answer to a request refused before any sync ran: nothing is recorded.
func errorResult(app, trigger string, err error) *Result {
	res := &Result{App: app, Trigger: trigger, Started: time.Now().UTC()}
	finish(res, err, false)
	return res
}

// jitter spreads the polls of repositories over a tenth of the interval, so they do not poll in
// step.
func jitter(interval time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(interval)/10 + 1))
}

// spread returns a random delay in [0, d].
func spread(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(max(d, 0)) + 1))
}
