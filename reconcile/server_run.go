package reconcile

import (
	"context"
	"sync"
	"time"
)

// Run loads every app's state from the cluster (the replica is ready from then on), then works
// until ctx ends: with leader election it follows, leads while it holds the Lease and follows
// again when it loses it; without, it leads from the start. When ctx ends it drains: it stops
// polling and answering triggers, lets the running syncs finish (DrainTimeout, then cancels
// them) and only then gives up the Lease. It returns nil once drained.
func (s *Server) Run(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		return nil // ctx ended before the state could be read
	}
	s.ready.Store(true)
	if s.opts.LeaderElection != nil {
		return s.runElected(ctx)
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.lead(lctx)
	}()
	<-ctx.Done()
	s.drain()
	stop()
	<-done
	return nil
}

// load reads every app's state, retrying what failed until it all succeeded or ctx ends.
func (s *Server) load(ctx context.Context) error {
	pending := make([]string, 0, len(s.apps))
	for name := range s.apps {
		pending = append(pending, name)
	}
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		states, err := s.r.States(ctx, pending)
		for name, state := range states {
			s.apps[name].setState(state)
		}
		if err == nil {
			return nil
		}
		s.log.Warn("reading the apps' state", "failed", len(pending)-len(states), "error", err)
		pending = pending[:0]
		for name := range s.apps {
			if states[name] == nil {
				pending = append(pending, name)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// lead does the leader's work on lctx, the leadership's context: it reloads the apps' state,
// runs again the syncs a previous leader left in flight, and polls. It returns when lctx ends
// or the server drains, once every sync it started has returned.
func (s *Server) lead(lctx context.Context) {
	work, cancel := context.WithCancelCause(context.WithoutCancel(lctx))
	stopAfter := context.AfterFunc(lctx, func() { cancel(errLostLead) })
	defer stopAfter()
	defer cancel(nil)
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.work, s.cancelWork = work, cancel
	s.mu.Unlock()
	s.leading.Store(true)
	s.metrics.leader.Set(1)
	s.log.Info("leading")
	s.leadershipChanged()
	defer func() {
		s.mu.Lock()
		s.work, s.cancelWork = nil, nil
		s.mu.Unlock()
		s.syncs.Wait()
		s.leading.Store(false)
		s.metrics.leader.Set(0)
		s.log.Info("stopped leading", "reason", context.Cause(work))
		s.leadershipChanged()
	}()
	if s.load(work) != nil {
		return
	}
	var wg sync.WaitGroup
	for _, st := range s.apps {
		wg.Go(func() { s.appLoop(work, st) })
	}
	wg.Go(func() { s.driftLoop(work) })
	wg.Wait()
}

// drain stops new work and waits for the running syncs, DrainTimeout at most; then it cancels
// them and waits for them to return. The replica is not ready from then on.
func (s *Server) drain() {
	s.ready.Store(false)
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drained)
	}
	cancel := s.cancelWork
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.syncs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(s.opts.DrainTimeout):
	}
	s.log.Warn("drain timeout passed; stopping the running syncs", "timeout", s.opts.DrainTimeout)
	if cancel != nil {
		cancel(errDrained)
	}
	<-done
}

// appLoop is one app on the leader: the sync a previous leader left in flight first, then a
// poll every Interval and one whenever woken (webhooks), until ctx ends or the server drains.
func (s *Server) appLoop(ctx context.Context, st *appState) {
	if st.cached().InFlight != nil { // runJob runs it first
		if done, err := s.locked(ctx, st, true, func(context.Context, *State) *Result { return nil }); err == nil {
			<-done
		}
	}
	var tick <-chan time.Time
	if s.opts.Interval > 0 {
		tick = time.After(0) // the first round checks every app at once
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.drained:
			return
		case <-st.wake:
			s.pollOnce(ctx, st, true)
		case <-tick:
			s.pollOnce(ctx, st, false)
			next := s.opts.Interval + jitter(s.opts.Interval)
			st.mu.Lock()
			st.nextPoll = time.Now().Add(next)
			st.mu.Unlock()
			tick = time.After(next)
		}
	}
}

// poke asks the app's loop for a poll; pokes while one is pending are coalesced into it.
func (st *appState) poke() bool {
	select {
	case st.wake <- struct{}{}:
		return true
	default:
		return false
	}
}
