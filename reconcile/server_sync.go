package reconcile

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// job is work on one app that runs on the leader under the app's lock, with the app's state
// freshly read from the cluster. It returns the result of the sync it ran, nil for none.
type job func(ctx context.Context, state *State) *Result

// errBusy: the app's lock is held and the caller would rather skip than wait.
var errBusy = errors.New("a sync of the app is running")

// locked runs j under st's lock on the leadership's context. It waits for the lock while ctx
// lasts (wait) or gives up at once (errBusy); it fails with errNotLeader when this replica does
// not lead or drains. The channel receives j's result once it returned.
func (s *Server) locked(ctx context.Context, st *appState, wait bool, j job) (<-chan *Result, error) {
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
	work, ok := s.begin()
	if !ok {
		<-st.lock
		return nil, errNotLeader
	}
	done := make(chan *Result, 1)
	go func() {
		defer s.syncs.Done()
		defer func() { <-st.lock }()
		done <- s.runJob(work, st, j)
	}()
	return done, nil
}

// runJob reads the app's state and runs j on it — after the sync a replica left in flight, if
// any, so that no sync is lost to a new one.
func (s *Server) runJob(ctx context.Context, st *appState, j job) (res *Result) {
	st.mu.Lock()
	st.syncing = true
	st.mu.Unlock()
	s.syncStarted(st)
	defer func() {
		st.mu.Lock()
		st.syncing = false
		st.mu.Unlock()
		s.syncEnded(ctx, st, res)
	}()
	state, err := s.read(ctx, st)
	if err == nil && state.InFlight != nil {
		if res := s.resume(ctx, st, state); res != nil {
			s.observe(res)
		}
		state, err = s.read(ctx, st)
	}
	if err != nil {
		res := errorResult(st.app.Name, "", err)
		s.observe(res)
		return res
	}
	res = j(ctx, state)
	if res != nil {
		_, _ = s.read(context.WithoutCancel(ctx), st)
		s.observe(res)
	}
	return res
}

// read reads the app's state from the cluster and caches it.
func (s *Server) read(ctx context.Context, st *appState) (*State, error) {
	state, err := s.r.State(ctx, st.app.Name)
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

// pollOnce lists the remote's refs and syncs only when the app's revision points at a commit
// that no sync has handled yet and that no rollback pinned over. Without wait it skips its turn
// while a sync of the app runs; with wait (a webhook) it runs after it.
func (s *Server) pollOnce(ctx context.Context, st *appState, wait bool) {
	rev, err := s.r.git.Resolve(ctx, st.app)
	if err != nil {
		if ctx.Err() == nil {
			s.metrics.polls.WithLabelValues(st.app.Name, "error").Inc()
			s.log.Warn("poll", "app", st.app.Name, "error", err)
		}
		return
	}
	head := rev.Commit.String()
	if verdict := pollVerdict(st.cached(), head); verdict != "" {
		s.metrics.polls.WithLabelValues(st.app.Name, verdict).Inc()
		return
	}
	done, err := s.locked(ctx, st, wait, func(ctx context.Context, state *State) *Result {
		if verdict := pollVerdict(state, head); verdict != "" { // the state as it is in the cluster
			s.metrics.polls.WithLabelValues(st.app.Name, verdict).Inc()
			return nil
		}
		s.metrics.polls.WithLabelValues(st.app.Name, "changed").Inc()
		res, _ := s.r.Sync(ctx, st.app, SyncOptions{Trigger: TriggerPoll, State: state})
		return res
	})
	if err == nil {
		<-done
	}
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
func (s *Server) resume(ctx context.Context, st *appState, state *State) *Result {
	f := state.InFlight
	s.log.Info("running again a sync left in flight", "app", st.app.Name, "id", f.ID, "from", f.Replica,
		"revision", api.ShortRevision(f.Revision))
	res, _ := s.r.Sync(ctx, st.app, SyncOptions{Trigger: f.Trigger, Caller: f.Caller, Revision: f.Revision,
		Rollback: f.Rollback, PinOver: f.PinOver, ID: f.ID, ResumedFrom: f.Replica, State: state})
	return res
}

// errorResult is the answer to a request refused before any sync ran: nothing is recorded.
func errorResult(app, trigger string, err error) *Result {
	res := &Result{App: app, Trigger: trigger, Started: time.Now().UTC()}
	finish(res, err, false)
	return res
}

// jitter spreads the polls of apps over a tenth of the interval, so they do not poll in step.
func jitter(interval time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(interval)/10 + 1))
}
