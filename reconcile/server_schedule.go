package reconcile

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tagrelay/tagrelay/internal/exitcode"
)

// Polls go by repository: each repository (URL and credential) of a shard this replica holds
// has one loop that lists its refs once per Interval (plus jitter) and checks every app of it
// against the commit found; an app whose revision points at a commit no sync handled yet gets a
// sync of that commit through the pool. The first poll of each loop comes at a random moment of
// FirstRoundSpread, so a start or a failover does not list every repository at once. A webhook
// (or an unpin) wakes the loop of its repository at once.

// repoGroup is the poll loop of one repository on a shard.
type repoGroup struct {
	key    sourceKey
	wake   chan struct{}
	cancel context.CancelFunc

	mu   sync.Mutex
	apps []*appState
	refs []*plumbing.Reference // the last listing a poll got, for the drift checks (polled)
}

func (g *repoGroup) members() []*appState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.apps
}

// regroup makes the shard's poll loops match the current config: a loop per repository of
// its apps; new repositories start theirs (first poll spread), gone ones stop, and a loop
// that gained apps polls at once.
func (s *Server) regroup(sh *shard) {
	want := map[sourceKey][]*appState{}
	for _, st := range s.appsOf(sh.index) {
		k := sourceKeyOf(st.spec())
		want[k] = append(want[k], st)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.work == nil || sh.loopCtx == nil || sh.draining {
		return
	}
	if sh.groups == nil {
		sh.groups = map[sourceKey]*repoGroup{}
	}
	for k, g := range sh.groups {
		if want[k] == nil {
			g.cancel()
			delete(sh.groups, k)
		}
	}
	loops := sh.loopCtx
	for k, apps := range want {
		g := sh.groups[k]
		if g == nil {
			ctx, cancel := context.WithCancel(loops)
			g = &repoGroup{key: k, wake: make(chan struct{}, 1), cancel: cancel, apps: apps}
			sh.groups[k] = g
			sh.loops.Go(func() { s.groupLoop(ctx, sh, g) })
			continue
		}
		g.mu.Lock()
		grown := len(apps) > len(g.apps) || !sameApps(apps, g.apps)
		g.apps = apps
		g.mu.Unlock()
		if grown {
			select {
			case g.wake <- struct{}{}:
			default:
			}
		}
	}
}

func sameApps(a, b []*appState) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[*appState]bool{}
	for _, st := range b {
		in[st] = true
	}
	for _, st := range a {
		if !in[st] {
			return false
		}
	}
	return true
}

// groupLoop polls one repository until ctx ends (the shard is given up or lost, the server
// drains, the repository leaves the shard).
func (s *Server) groupLoop(ctx context.Context, sh *shard, g *repoGroup) {
	var tick <-chan time.Time
	if s.opts.Interval > 0 {
		first := spread(s.opts.FirstRoundSpread)
		g.setNextPoll(first)
		tick = time.After(first)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.drained:
			return
		case <-g.wake:
			s.pollGroup(ctx, sh, g)
		case <-tick:
			s.pollGroup(ctx, sh, g)
			next := s.opts.Interval + jitter(s.opts.Interval)
			g.setNextPoll(next)
			tick = time.After(next)
		}
	}
}

func (g *repoGroup) setNextPoll(after time.Duration) {
	at := time.Now().Add(after)
	for _, st := range g.members() {
		st.mu.Lock()
		st.nextPoll = at
		st.mu.Unlock()
	}
}

// pollGroup lists the repository's refs once and starts a sync of every app whose revision
// points at a commit that no sync handled yet and no rollback pinned over. An app with a poll
// pending (a webhook) waits for its running sync and goes before the polls in the pool; the
// others skip their turn while a sync of theirs runs.
func (s *Server) pollGroup(ctx context.Context, sh *shard, g *repoGroup) {
	apps := g.members()
	if len(apps) == 0 {
		return
	}
	woken := map[*appState]bool{}
	for _, st := range apps {
		select {
		case <-st.wake:
			woken[st] = true
		default:
		}
	}
	refs, err := s.r.git.lists.refs(ctx, apps[0].spec())
	if err != nil {
		if ctx.Err() == nil {
			err = gitError(ctx, apps[0].spec(), "listing refs of", err)
			for _, st := range apps {
				s.metrics.polls.WithLabelValues(st.name, "error").Inc()
			}
			s.log.Warn("poll", "repo", g.key.repo, "apps", len(apps), "error", err)
		}
		return
	}
	s.metrics.listings.Inc()
	g.mu.Lock()
	g.refs = refs
	g.mu.Unlock()
	for _, st := range apps {
		app := st.spec()
		rev, err := revisionIn(app, refs)
		if err != nil {
			s.metrics.polls.WithLabelValues(st.name, "error").Inc()
			s.log.Warn("poll", "app", st.name, "error", err)
			continue
		}
		head := rev.Commit.String()
		st.mu.Lock()
		forced := st.forced
		st.mu.Unlock()
		if verdict := pollVerdict(st.cached(), head); verdict != "" && !forced {
			s.metrics.polls.WithLabelValues(st.name, verdict).Inc()
			continue
		}
		sh.loops.Go(func() { s.pollSync(ctx, st, rev, woken[st]) })
	}
}

// pollSync syncs the commit a poll found, under the app's lock, unless the state read under it
// says it was handled meanwhile.
func (s *Server) pollSync(ctx context.Context, st *appState, rev Revision, wait bool) {
	head := rev.Commit.String()
	done, err := s.locked(ctx, st, wait, wait, func(ctx context.Context, state *State, sl *slot) *Result {
		st.mu.Lock()
		app, forced := st.app, st.forced
		st.mu.Unlock()
		if verdict := pollVerdict(state, head); verdict != "" && !forced { // the state as it is in the cluster
			s.metrics.polls.WithLabelValues(st.name, verdict).Inc()
			return nil
		}
		s.metrics.polls.WithLabelValues(st.name, "changed").Inc()
		res, err := s.r.Sync(withResolved(ctx, app, rev), app, SyncOptions{Trigger: TriggerPoll, State: state, OnApplied: sl.onApplied(nil)})
		if forced && res.Revision != "" && (res.ExitCode != exitcode.Failure || errors.Is(err, ErrRollout)) {
			st.mu.Lock()
			if st.app.Name == app.Name && sameSpec(st.app, app) {
				st.forced = false
			}
			st.mu.Unlock()
		}
		return res
	})
	if err == nil {
		<-done
	}
}

// polled returns the commit app's revision pointed at in the last listing of its repository's
// poll loop, when this replica has one: a drift check compares the cluster with it instead of
// listing the refs once more per app.
func (s *Server) polled(st *appState, app App) (Revision, bool) {
	sh := s.shardFor(st)
	sh.mu.Lock()
	g := sh.groups[sourceKeyOf(app)]
	sh.mu.Unlock()
	if g == nil {
		return Revision{}, false
	}
	g.mu.Lock()
	refs := g.refs
	g.mu.Unlock()
	if refs == nil {
		return Revision{}, false
	}
	rev, err := revisionIn(app, refs)
	return rev, err == nil
}

// wakeGroup wakes the poll loop of the app's repository, if this replica holds its shard.
func (s *Server) wakeGroup(st *appState) {
	sh := s.shardFor(st)
	k := sourceKeyOf(st.spec())
	sh.mu.Lock()
	g := sh.groups[k]
	sh.mu.Unlock()
	if g == nil {
		return
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}
