package reconcile

import (
	"context"
	"sync"
)

// Run loads the state summaries of every app from the cluster (the replica is ready from then
// on), then works until ctx ends: with leader election it holds the shards whose Lease it wins
// (shard_lease.go), without it holds them all. When ctx ends it drains: it stops polling and
// answering triggers, lets the running syncs finish (DrainTimeout, then cancels them) and only
// then gives up its Leases. It returns nil once drained.
func (s *Server) Run(ctx context.Context) error {
	// The informers outlive ctx until the drain is over: the API answers meanwhile.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	s.r.shareWatches(runCtx)
	loaded := make(chan error, 1)
	go func() { loaded <- s.watchStates(runCtx) }()
	select {
	case err := <-loaded:
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	case <-ctx.Done(): // ended before the state could be read: nothing to drain
		stopRun()
		<-loaded
		return nil
	}
	if s.opts.Config != nil {
		go s.watchConfig(runCtx)
	}
	if s.sharesViews() {
		go s.watchViews(runCtx)
	}
	s.metrics.apps.Set(float64(len(s.current().names)))
	s.ready.Store(true)
	if s.le != nil {
		return s.le.run(ctx)
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	for _, sh := range s.shards {
		wg.Go(func() { s.lead(sh, lctx) })
	}
	<-ctx.Done()
	s.drain()
	stop()
	wg.Wait()
	return nil
}

// lead does the work of a shard this replica holds, on lctx, its lease's context: it runs
// again the syncs a previous holder left in flight and polls the shard's repositories, the
// first round spread over FirstRoundSpread. It returns when lctx ends, once every sync it
// started has returned.
func (s *Server) lead(sh *shard, lctx context.Context) {
	work, cancel := context.WithCancelCause(context.WithoutCancel(lctx))
	stopAfter := context.AfterFunc(lctx, func() { cancel(errLostLead) })
	defer stopAfter()
	defer cancel(nil)
	if !s.hold(sh, work, cancel) {
		return
	}
	s.metrics.shards.Inc()
	s.metrics.leader.Set(1)
	s.log.Info("leading", "shard", sh.index, "apps", s.current().shardSizes[sh.index])
	s.leadershipChanged()
	defer func() {
		s.unhold(sh)
		s.metrics.shards.Dec()
		if s.le == nil || len(s.le.heldShards()) == 0 {
			s.metrics.leader.Set(0)
		}
		s.log.Info("stopped leading", "shard", sh.index, "reason", context.Cause(work))
		s.leadershipChanged()
	}()
	loops, stopLoops := context.WithCancel(work)
	sh.mu.Lock()
	sh.loopCtx, sh.stopLoops = loops, stopLoops
	sh.mu.Unlock()
	s.regroup(sh)
	s.resumeShard(loops, sh)
	sh.loops.Go(func() { s.driftLoop(loops, sh) })
	<-work.Done()
}

// resumeShard runs again the syncs left in flight on the shard's apps (runJob does, before
// anything else), through the pool, as the apps' first jobs.
func (s *Server) resumeShard(ctx context.Context, sh *shard) {
	for _, st := range s.appsOf(sh.index) {
		if state := st.cached(); state == nil || state.InFlight == nil {
			continue
		}
		sh.loops.Go(func() {
			done, err := s.locked(ctx, st, true, false, func(context.Context, *State, *slot) *Result { return nil })
			if err == nil {
				<-done
			}
		})
	}
}

// drain stops new work on every shard and waits for the running syncs, DrainTimeout at most;
// then it cancels them and waits for them to return. The replica is not ready from then on.
func (s *Server) drain() {
	s.ready.Store(false)
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drained)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, sh := range s.shards {
		wg.Go(func() { s.drainShard(sh) })
	}
	wg.Wait()
}

// poke asks for a poll of the app (coalesced while one is pending) and wakes its repository's
// poll loop; false when a poll was pending already.
func (s *Server) poke(st *appState) bool {
	select {
	case st.wake <- struct{}{}:
	default:
		return false
	}
	s.wakeGroup(st)
	return true
}
