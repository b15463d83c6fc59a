package reconcile

import (
	"context"
	"hash/fnv"
	"sync"
	"time"
)

// Apps are spread over shards by their repository: every app of a repository lands on the same
// shard, so the replica that holds it lists the repository once per interval for all of them and
// keeps its one fetch cache, and a push webhook concerns one owner. Each shard is held by one
// replica at a time, through its own Lease (shard_lease.go); without leader election one process
// holds the only shard. A shard's syncs run on its lease's context: a replica that loses the
// lease stops them before their next write (fencing), and drains them before it gives a shard
// up.

// shard is one shard on this replica: its work while held.
type shard struct {
	index int

	mu         sync.Mutex
	work       context.Context // the lease's; syncs run on it; nil while not held
	cancelWork context.CancelCauseFunc
	draining   bool
	loopCtx    context.Context    // the poll loops'; ends before work when the shard drains
	stopLoops  context.CancelFunc // ends loopCtx
	groups     map[sourceKey]*repoGroup
	syncs      sync.WaitGroup
	loops      sync.WaitGroup
}

// shardOf returns the shard of an app: a hash of its repository.
func (s *Server) shardOf(a App) int { return shardIndex(a.Repo, len(s.shards)) }

// shardIndex is the shard of the apps of repo among n.
func shardIndex(repo string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(normalizeRepo(repo)))
	return int(h.Sum32() % uint32(n))
}

// shardFor returns the shard of an app on this server.
func (s *Server) shardFor(st *appState) *shard {
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.shards[st.shard]
}

// held reports whether this replica holds the shard (and does not give it up).
func (sh *shard) held() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.work != nil && !sh.draining
}

// begin registers a sync about to run on the shard's work context; ok is false when this
// replica does not hold the shard, or gives it up, or stops.
func (sh *shard) begin() (work context.Context, ok bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.work == nil || sh.draining || sh.work.Err() != nil {
		return nil, false
	}
	sh.syncs.Add(1)
	return sh.work, true
}

// hold makes work the shard's: syncs and poll loops run on it. It fails when the server
// stops.
func (s *Server) hold(sh *shard, work context.Context, cancel context.CancelCauseFunc) bool {
	s.mu.Lock()
	stopping := s.draining
	s.mu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if stopping {
		return false
	}
	sh.work, sh.cancelWork, sh.draining = work, cancel, false
	return true
}

// unhold ends the shard's work once its loops and syncs returned.
func (s *Server) unhold(sh *shard) {
	sh.mu.Lock()
	stop := sh.stopLoops
	sh.work, sh.cancelWork, sh.loopCtx, sh.stopLoops, sh.groups = nil, nil, nil, nil, nil
	sh.mu.Unlock()
	if stop != nil {
		stop()
	}
	sh.loops.Wait()
	sh.syncs.Wait()
}

// drainShard stops the shard's polls and new jobs and waits for its running syncs,
// DrainTimeout at most; then it cancels them and waits for them to return. The shard stays
// held (its lease renewed) meanwhile, so no other replica runs its apps yet.
func (s *Server) drainShard(sh *shard) {
	sh.mu.Lock()
	sh.draining = true
	cancel, stop := sh.cancelWork, sh.stopLoops
	sh.mu.Unlock()
	if stop != nil {
		stop()
	}
	done := make(chan struct{})
	go func() {
		sh.loops.Wait()
		sh.syncs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(s.opts.DrainTimeout):
	}
	s.log.Warn("drain timeout passed; stopping the running syncs", "shard", sh.index, "timeout", s.opts.DrainTimeout)
	if cancel != nil {
		cancel(errDrained)
	}
	<-done
}

// appsOf returns the apps of the current config on shard index.
func (s *Server) appsOf(index int) []*appState {
	set := s.current()
	var out []*appState
	for _, name := range set.names {
		st := set.apps[name]
		st.mu.Lock()
		in := st.shard == index
		st.mu.Unlock()
		if in {
			out = append(out, st)
		}
	}
	return out
}
