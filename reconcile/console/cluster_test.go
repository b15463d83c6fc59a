package console_test

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/console"
)

// clusterBackend is the console's Backend over the real reconciler and the real test cluster:
// every tree, event, log line, diff and sync comes from the API server. What it keeps itself is
// what the server (reconcile/serve*.go) keeps for its apps: which project owns an app, the
// tokens, whether a sync runs, the last result, the last drift check and the rollback pin. In
// phase 2 of issue 13 the Server implements console.Backend and replaces it.
type clusterBackend struct {
	r       *reconcile.Reconciler
	tokens  map[string]api.Principal
	publish func(api.AppState)

	mu   sync.Mutex
	apps map[string]*clusterApp
}

type clusterApp struct {
	app        reconcile.App
	project    string
	sourceRepo string
	lock       chan struct{} // one sync of an app at a time, as the server does

	syncing bool
	last    *api.SyncResult
	drift   bool
	pinned  string
}

var _ console.Backend = (*clusterBackend)(nil)

func newClusterBackend(r *reconcile.Reconciler, tokens map[string]api.Principal) *clusterBackend {
	return &clusterBackend{r: r, tokens: tokens, apps: map[string]*clusterApp{}, publish: func(api.AppState) {}}
}

func (b *clusterBackend) add(app reconcile.App, project, sourceRepo string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apps[app.Name] = &clusterApp{app: app, project: project, sourceRepo: sourceRepo, lock: make(chan struct{}, 1)}
}

func (b *clusterBackend) Authenticate(_ context.Context, token string) (api.Principal, error) {
	for t, p := range b.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return p, nil
		}
	}
	return api.Principal{}, errors.New("unknown token")
}

// get returns the app when p may see it; another project's app is not found.
func (b *clusterBackend) get(p api.Principal, name string) (*clusterApp, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.apps[name]
	if a == nil || !p.Allows(a.project) {
		return nil, errdefs.NotFound(fmt.Errorf("no app %q", name))
	}
	return a, nil
}

// state reads what the console lists for an app: health and running images from its tree.
func (b *clusterBackend) state(ctx context.Context, a *clusterApp) (api.AppState, error) {
	tree, err := b.r.Tree(ctx, a.app)
	if err != nil {
		return api.AppState{}, err
	}
	b.mu.Lock()
	last, syncing, drift, pinned := a.last, a.syncing, a.drift, a.pinned
	b.mu.Unlock()
	st := api.AppState{AppStatus: api.AppStatus{Name: a.app.Name, Repo: a.app.Repo, Ref: a.app.Revision, Path: a.app.Path,
		Syncing: syncing, LastSync: last}, Project: a.project, Namespace: a.app.Namespace, Pinned: pinned,
		Running: tree.Running(), SourceRepo: a.sourceRepo}
	st.Health, st.HealthMessage = tree.Health()
	st.Sync = api.SyncStateOf(syncing, last, drift)
	return st, nil
}

func (b *clusterBackend) Apps(ctx context.Context, p api.Principal, f api.AppFilter) (*api.AppPage, error) {
	b.mu.Lock()
	var names []string
	for n, a := range b.apps {
		if p.Allows(a.project) {
			names = append(names, n)
		}
	}
	b.mu.Unlock()
	var states []api.AppState
	projects := map[string]bool{}
	for _, n := range names {
		a, _ := b.get(p, n)
		st, err := b.state(ctx, a)
		if err != nil {
			return nil, err
		}
		projects[st.Project] = true
		states = append(states, st)
	}
	sort.Slice(states, func(i, j int) bool {
		if states[i].Project != states[j].Project {
			return states[i].Project < states[j].Project
		}
		return states[i].Name < states[j].Name
	})
	out := &api.AppPage{Counts: map[string]int{}}
	for pr := range projects {
		out.Projects = append(out.Projects, pr)
	}
	sort.Strings(out.Projects)
	for i := range states {
		st := &states[i]
		if f.Project != "" && st.Project != f.Project {
			continue
		}
		out.Counts[string(st.Health)]++
		out.Counts[string(st.Sync)]++
		if st.Pinned != "" {
			out.Counts["Pinned"]++
		}
		if f.Match(st) {
			if out.Total >= f.Offset && (f.Limit == 0 || len(out.Apps) < f.Limit) {
				out.Apps = append(out.Apps, *st)
			}
			out.Total++
		}
	}
	return out, nil
}

func (b *clusterBackend) App(ctx context.Context, p api.Principal, name string) (*api.AppState, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	st, err := b.state(ctx, a)
	return &st, err
}

func (b *clusterBackend) History(ctx context.Context, p api.Principal, name string) ([]api.SyncResult, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	return b.r.History(ctx, a.app.Name)
}

func (b *clusterBackend) Tree(ctx context.Context, p api.Principal, name string) (*api.Tree, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	return b.r.Tree(ctx, a.app)
}

func (b *clusterBackend) Preview(ctx context.Context, p api.Principal, name string) (*api.Preview, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	return b.r.Preview(ctx, a.app)
}

func (b *clusterBackend) Events(ctx context.Context, p api.Principal, name string) ([]api.Event, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	t, err := b.r.Tree(ctx, a.app)
	if err != nil {
		return nil, err
	}
	return b.r.Events(ctx, t)
}

func (b *clusterBackend) Logs(ctx context.Context, p api.Principal, name string, q api.LogQuery, emit func(api.LogLine) error) error {
	a, err := b.get(p, name)
	if err != nil {
		return err
	}
	t, err := b.r.Tree(ctx, a.app)
	if err != nil {
		return err
	}
	return b.r.Logs(ctx, t, q, emit)
}

// run syncs the app (serialised per app) and publishes its state when the sync starts and ends.
func (b *clusterBackend) run(ctx context.Context, a *clusterApp, opts reconcile.SyncOptions) (*api.SyncResult, error) {
	a.lock <- struct{}{}
	defer func() { <-a.lock }()
	b.mu.Lock()
	a.syncing = true
	b.mu.Unlock()
	b.notify(ctx, a)
	res, err := b.r.Sync(context.WithoutCancel(ctx), a.app, opts)
	b.mu.Lock()
	a.syncing, a.last, a.drift = false, res, false
	if err == nil && opts.Revision != "" {
		a.pinned = res.Revision
	} else if err == nil {
		a.pinned = ""
	}
	b.mu.Unlock()
	b.notify(ctx, a)
	return res, err
}

func (b *clusterBackend) notify(ctx context.Context, a *clusterApp) {
	if st, err := b.state(context.WithoutCancel(ctx), a); err == nil {
		b.publish(st)
	}
}

func (b *clusterBackend) Sync(ctx context.Context, p api.Principal, name string, req api.SyncRequest) (*api.SyncResult, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	return b.run(ctx, a, reconcile.SyncOptions{Trigger: reconcile.TriggerAPI, Guard: true, AllowNoop: req.AllowNoop,
		Restart: req.Restart, ExpectImage: req.ExpectImage})
}

func (b *clusterBackend) Rollback(ctx context.Context, p api.Principal, name string, to int) (*api.SyncResult, error) {
	a, err := b.get(p, name)
	if err != nil {
		return nil, err
	}
	hist, err := b.r.History(ctx, name)
	if err != nil {
		return nil, err
	}
	if to < 1 || to > len(hist) || hist[to-1].Revision == "" {
		return nil, errdefs.Invalid(fmt.Errorf("no history entry %d", to))
	}
	return b.run(ctx, a, reconcile.SyncOptions{Trigger: "rollback", Guard: true, Revision: hist[to-1].Revision})
}

func (b *clusterBackend) Unpin(ctx context.Context, p api.Principal, name string) error {
	a, err := b.get(p, name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	a.pinned = ""
	b.mu.Unlock()
	b.notify(ctx, a)
	return nil
}

// checkDrift is the server's drift check: a dry run that sets OutOfSync without applying.
func (b *clusterBackend) checkDrift(ctx context.Context, name string) error {
	a, err := b.get(api.Principal{Admin: true}, name)
	if err != nil {
		return err
	}
	pv, err := b.r.Preview(ctx, a.app)
	if err != nil {
		return err
	}
	b.mu.Lock()
	a.drift = pv.OutOfSync()
	b.mu.Unlock()
	b.notify(ctx, a)
	return nil
}

// waitFor bounds the test's waits.
const waitFor = 60 * time.Second
