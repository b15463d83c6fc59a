package reconcile

import (
	"context"
	"reflect"
	"sort"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// appSet is the server's apps and projects at one time: built whole when the config changes
// and swapped in atomically, so a request sees one config from start to end. An app's state
// (appState) carries over from one set to the next by name.
type appSet struct {
	apps      map[string]*appState
	names     []string            // sorted
	byProject map[string][]string // sorted, per project
	byRepo    map[string][]*appState
	projects  Projects
	// shardSizes counts the apps of each shard.
	shardSizes []int
}

// newSet builds the set of apps and projects, reusing the states of prev: an app whose spec
// changed is marked to sync at its next poll; the apps of prev that are gone are marked
// removed (see removed).
func (s *Server) newSet(apps []App, projects Projects, prev *appSet) *appSet {
	set := &appSet{apps: make(map[string]*appState, len(apps)), byProject: map[string][]string{}, byRepo: map[string][]*appState{},
		projects: projects, shardSizes: make([]int, len(s.shards))}
	for _, a := range apps {
		st := (*appState)(nil)
		if prev != nil {
			st = prev.apps[a.Name]
		}
		if st == nil {
			st = newAppState(a)
			if state := s.cachedState(a.Name); state != nil {
				st.state = state
			}
		}
		project := ""
		if p := projects.Of(a); p != nil {
			project = p.Name
		}
		st.mu.Lock()
		if !sameSpec(st.app, a) {
			st.app, st.forced = a, prev != nil
		}
		st.project, st.shard, st.removed = project, s.shardOf(a), false
		st.mu.Unlock()
		set.apps[a.Name] = st
		set.names = append(set.names, a.Name)
		if project != "" {
			set.byProject[project] = append(set.byProject[project], a.Name)
		}
		repo := normalizeRepo(a.Repo)
		set.byRepo[repo] = append(set.byRepo[repo], st)
		set.shardSizes[st.shard]++
	}
	sort.Strings(set.names)
	for _, names := range set.byProject {
		sort.Strings(names)
	}
	if prev != nil {
		for name, st := range prev.apps {
			if set.apps[name] == nil {
				st.mu.Lock()
				st.removed = true
				st.mu.Unlock()
			}
		}
	}
	return set
}

// removedApps returns the apps of prev that next does not have.
func removedApps(prev, next *appSet) []*appState {
	var out []*appState
	for name, st := range prev.apps {
		if next.apps[name] == nil {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// replace makes apps and projects the server's: new apps are polled soon (their shard's
// owner polls their repository), removed ones no longer (prune lists those whose objects the
// owner deletes, see forget), changed ones sync at their next poll.
func (s *Server) replace(apps []App, projects Projects, prune map[string]bool) {
	s.setMu.Lock()
	defer s.setMu.Unlock()
	prev := s.current()
	next := s.newSet(apps, projects, prev)
	s.set.Store(next)
	for _, sh := range s.shards {
		if sh.held() {
			s.regroup(sh)
		}
	}
	s.metrics.apps.Set(float64(len(next.names)))
	for _, st := range removedApps(prev, next) {
		s.log.Info("app removed from the config", "app", st.name, "prune", prune[st.name])
		s.ui.outOfSync.DeleteLabelValues(st.name)
		s.ui.c.Forget(st.name)
		if prune[st.name] {
			go s.forget(st)
		}
	}
}

// forget deletes the objects of a removed app (its inventory says which), on the replica that
// holds its shard, under its lock after any sync of it.
func (s *Server) forget(st *appState) {
	done, err := s.locked(context.Background(), st, true, false, func(ctx context.Context, _ *State, _ *slot) *Result {
		res := &Result{App: st.name, Trigger: TriggerRemoved}
		pruned, err := s.r.forget(ctx, st.spec())
		res.Objects = pruned
		finish(res, err, false)
		return res
	})
	if err != nil {
		return // another replica holds the shard: it prunes
	}
	res := <-done
	s.log.Info("pruned a removed app", "app", st.name, "objects", len(res.Objects), "status", res.Status, "message", res.Message)
}

// TriggerRemoved is the trigger of the prune of an app removed from the config.
const TriggerRemoved = "removed"

// forget deletes what app applied (its inventory), then its inventory: what a sync that renders
// nothing would prune.
func (r *Reconciler) forget(ctx context.Context, app App) ([]api.ObjectChange, error) {
	inv, err := r.readInventory(ctx, app.Name)
	if err != nil {
		return nil, err
	}
	// Forced past limits.maxPrune: removing the app asks for all of it. Protected kinds and
	// objects annotated prune: disabled stay, as in any sync.
	plan, err := r.planPrune(ctx, app, inv.refs, nil, true)
	if err != nil {
		return nil, err
	}
	pruned, kept, err := r.prune(ctx, plan)
	if err != nil {
		return pruned, err
	}
	return pruned, r.writeInventory(ctx, app.Name, inv, kept)
}

// sameSpec reports whether two specs of an app are equal (credentials included).
func sameSpec(a, b App) bool { return reflect.DeepEqual(a, b) }
