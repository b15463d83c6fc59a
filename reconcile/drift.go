package reconcile

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Drift: polls sync a new commit, but nothing tells when the cluster no longer matches the
// commit that was deployed (a kubectl edit, a deleted object), or that a commit waits for its
// sync. The holder of a shard dry-runs the sync of each of the shard's apps (server-side apply,
// dry run, nothing written) once per DriftInterval and marks the app OutOfSync when a sync
// would create, change or prune an object — without applying: repairing is a sync's job, with
// its guards. An app pinned by a rollback is compared with the commit it is pinned to.
//
// Its cost is bounded: the checks of a shard are spread over the interval (one app every
// DriftInterval/apps), at most DriftJobs run at once over all shards, each takes a slot of the
// sync pool (after the triggers and polls waiting for one), and a check holds the app's sync
// lock, so it never overlaps the app's sync — an app whose sync runs is skipped this round (the
// sync ends with the app's tree read again). The result is exported as
// tagrelay_reconciler_out_of_sync{app} and published to the console.

// driftLoop runs while this replica holds sh, until ctx (the shard's poll loops') ends or the
// server drains: it reads the tree of every app of the shard first (the console's health and
// running images), then checks one app after another. Each round takes the shard's apps anew:
// a config reload adds and removes apps.
func (s *Server) driftLoop(ctx context.Context, sh *shard) {
	sem := s.ui.drift
	var wg sync.WaitGroup
	defer wg.Wait()
	stopped := func() bool {
		select {
		case <-ctx.Done():
			return true
		case <-s.drained:
			return true
		default:
			return false
		}
	}
	for _, st := range s.appsOf(sh.index) {
		if stopped() {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-s.drained:
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if s.refreshTree(ctx, st) {
				s.shareView(ctx, st)
				s.publish(st)
			}
		})
	}
	interval := s.opts.Console.DriftInterval
	if interval < 0 {
		return
	}
	next := time.Now()
	for {
		apps := s.appsOf(sh.index)
		rand.Shuffle(len(apps), func(i, j int) { apps[i], apps[j] = apps[j], apps[i] })
		pace := max(interval/time.Duration(max(len(apps), 1)), time.Millisecond)
		if len(apps) == 0 {
			next = next.Add(interval) // none now: look again in an interval
		}
		for _, st := range apps {
			select {
			case <-ctx.Done():
				return
			case <-s.drained:
				return
			case <-time.After(time.Until(next)):
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			case <-s.drained:
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				s.checkDrift(ctx, st)
			})
			next = next.Add(pace)
			if now := time.Now(); next.Before(now) {
				next = now // checks slower than the pace stretch the round; they do not pile up
			}
		}
		if len(apps) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.drained:
				return
			case <-time.After(time.Until(next)):
			}
		}
	}
}

// driftRecheck: every driftRecheck-th check of an app whose objects nobody touched is a full
// one (see inSync), so that what can change without a commit or a write to the app's objects (a
// remote base or chart at a branch, the API server's defaults) is seen within that many drift
// intervals.
const driftRecheck = 6

// inSync is what the last drift check that found the app in sync compared: the app's spec, the
// commit, and its objects' versions read before the dry run. A check that finds the same ones
// — no new commit, no config change, no sync since, no write to any of the app's objects —
// knows the answer without a dry run, a render or reading the tree: a few metadata-only GETs.
type inSync struct {
	app      App
	commit   string
	versions *liveVersions
	syncs    uint64
	skips    int // checks that skipped their dry run since (under the view's lock)
}

// checkDrift dry-runs the app's sync on its lock, unless a sync of the app runs, and records
// whether a sync would change objects, and the app's tree. It publishes the app when what the
// console shows changed. The commit compared is the one the last poll of the app's repository
// found (a new listing when polls are off); an app found in sync whose objects, commit and
// spec did not change since is not dry-run again (inSync), but for every driftRecheck-th check.
func (s *Server) checkDrift(ctx context.Context, st *appState) {
	select {
	case st.lock <- struct{}{}:
	default:
		s.ui.driftChecks.WithLabelValues("busy").Inc()
		return
	}
	defer func() { <-st.lock }()
	sh := s.shardFor(st)
	if _, ok := sh.begin(); !ok { // the shard is not held, or drains: the drain waits for this check
		return
	}
	defer sh.syncs.Done()
	sl, err := s.pool.acquire(ctx, false)
	if err != nil {
		return
	}
	defer sl.release()
	app := st.spec()
	if pin := st.cached().Pin; pin.Active() {
		app.Revision = pin.Revision
	}
	v := &st.view
	v.mu.Lock()
	syncs, last := v.syncs, v.inSync
	skips := 0
	if last != nil {
		skips = last.skips
	}
	v.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rev, ok := s.polled(st, app)
	if !ok {
		var err error
		if rev, err = s.r.git.Resolve(cctx, app); err != nil {
			rev = Revision{} // the dry run lists again and says why it fails
		}
	}
	var prev *liveVersions
	if last != nil {
		prev = last.versions
	}
	versions, verr := s.r.readVersions(cctx, st.name, prev)
	if ctx.Err() != nil {
		return
	}
	if verr == nil && last != nil && !rev.Commit.IsZero() && last.syncs == syncs && last.commit == rev.Commit.String() &&
		sameSpec(last.app, app) && last.versions.equal(versions) && skips < driftRecheck-1 {
		v.mu.Lock()
		if v.syncs == syncs {
			v.checked = time.Now()
		}
		last.skips++
		v.mu.Unlock()
		s.ui.driftChecks.WithLabelValues("unchanged").Inc()
		return
	}
	if !rev.Commit.IsZero() {
		cctx = withResolved(cctx, app, rev)
	}
	pv, err := s.r.Preview(cctx, app)
	if ctx.Err() != nil {
		return
	}
	changed := s.setDrift(st, pv.OutOfSync(), err, syncs)
	if s.refreshTree(ctx, st) {
		changed = true
	}
	var seen *inSync
	if err == nil && verr == nil && !pv.OutOfSync() && pv.Result.Revision != "" {
		seen = &inSync{app: app, commit: pv.Result.Revision, versions: versions, syncs: syncs}
	}
	v.mu.Lock()
	v.inSync = seen
	v.mu.Unlock()
	if changed {
		s.shareView(ctx, st)
		s.publish(st)
	}
}

// setDrift records a drift check's finding, unless a sync of the app ended since it began
// (syncs: the count of ended syncs then), and reports whether the console's view changed. A
// failed check keeps the previous finding and says why.
func (s *Server) setDrift(st *appState, drift bool, err error, syncs uint64) bool {
	v := &st.view
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.syncs != syncs {
		return false
	}
	v.checked = time.Now()
	before, beforeErr := v.drift, v.driftErr
	switch {
	case err != nil:
		v.driftErr = firstLine(err.Error(), 300)
		s.ui.driftChecks.WithLabelValues("error").Inc()
		s.log.Warn("drift check", "app", st.name, "error", err)
	default:
		v.drift, v.driftErr = drift, ""
		result, value := "in_sync", 0.0
		if drift {
			result, value = "out_of_sync", 1
		}
		s.ui.driftChecks.WithLabelValues(result).Inc()
		s.ui.outOfSync.WithLabelValues(st.name).Set(value)
	}
	return v.drift != before || v.driftErr != beforeErr
}

// firstLine is the first line of s, at most n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
