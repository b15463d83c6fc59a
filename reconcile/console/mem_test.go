package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// memBackend is a Backend over data in memory, for the tests of what the console itself does
// (sessions, CSRF, scoping, escaping, streams) and for the rendering benchmarks. The tests of
// the console against the reconciler over a real cluster are in browser_test.go.
type memBackend struct {
	mu     sync.Mutex
	apps   []api.AppState
	trees  map[string]*api.Tree
	events map[string][]api.Event
	hist   map[string][]api.SyncResult
	tokens map[string]api.Principal
	// leak answers every app whatever the principal: a broken backend the console must not trust
	leak bool
	// calls records the actions: "sync web by admin"
	calls []string
}

func (m *memBackend) Authenticate(_ context.Context, token string) (api.Principal, error) {
	for t, p := range m.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return p, nil
		}
	}
	return api.Principal{}, errors.New("wrong token")
}

func (m *memBackend) get(p api.Principal, name string) (*api.AppState, error) {
	for i := range m.apps {
		if a := &m.apps[i]; a.Name == name && (m.leak || p.Allows(a.Project)) {
			c := *a
			return &c, nil
		}
	}
	return nil, errdefs.NotFound(fmt.Errorf("no app %q", name))
}

func (m *memBackend) Apps(_ context.Context, p api.Principal, f api.AppFilter) (*api.AppPage, error) {
	out := &api.AppPage{Counts: map[string]int{}}
	projects := map[string]bool{}
	for i := range m.apps {
		a := &m.apps[i]
		if !m.leak && !p.Allows(a.Project) {
			continue
		}
		projects[a.Project] = true
		if f.Project != "" && a.Project != f.Project {
			continue
		}
		out.Counts[string(a.Health)]++
		out.Counts[string(a.Sync)]++
		if a.Pinned != "" {
			out.Counts["Pinned"]++
		}
		if f.Match(a) {
			out.Total++
			if out.Total > f.Offset && (f.Limit == 0 || len(out.Apps) < f.Limit) {
				out.Apps = append(out.Apps, *a)
			}
		}
	}
	for pr := range projects {
		out.Projects = append(out.Projects, pr)
	}
	sort.Strings(out.Projects)
	return out, nil
}

func (m *memBackend) App(_ context.Context, p api.Principal, name string) (*api.AppState, error) {
	return m.get(p, name)
}

func (m *memBackend) History(_ context.Context, p api.Principal, name string) ([]api.SyncResult, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	return m.hist[name], nil
}

func (m *memBackend) Tree(_ context.Context, p api.Principal, name string) (*api.Tree, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	if t := m.trees[name]; t != nil {
		return t, nil
	}
	return &api.Tree{App: name}, nil
}

func (m *memBackend) Preview(_ context.Context, p api.Principal, name string) (*api.Preview, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	return &api.Preview{Result: &api.SyncResult{App: name, Status: api.StatusDryRun, Revision: strings.Repeat("ab", 20),
		Objects: []api.ObjectChange{{Object: "Deployment/ns/" + name, Action: api.ActionConfigured,
			Diff: "--- live\n+++ rendered\n@@ -1,1 +1,1 @@\n-image: a:1\n+image: a:2\n"}},
		Images: []api.ImageChange{{Object: "Deployment/ns/" + name, Container: "c", Before: "a:1", After: "a:2"}}}}, nil
}

func (m *memBackend) Events(_ context.Context, p api.Principal, name string) ([]api.Event, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	return m.events[name], nil
}

func (m *memBackend) Logs(_ context.Context, p api.Principal, name string, q api.LogQuery, emit func(api.LogLine) error) error {
	if _, err := m.get(p, name); err != nil {
		return err
	}
	return emit(api.LogLine{Time: time.Now(), Line: "log of " + q.Pod})
}

func (m *memBackend) record(p api.Principal, what, name string) {
	m.mu.Lock()
	m.calls = append(m.calls, what+" "+name+" by "+p.Name)
	m.mu.Unlock()
}

func (m *memBackend) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *memBackend) Sync(_ context.Context, p api.Principal, name string, req api.SyncRequest) (*api.SyncResult, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	what := "sync"
	if req.Restart {
		what = "restart"
	}
	m.record(p, what, name)
	return &api.SyncResult{App: name, Status: api.StatusApplied, Revision: strings.Repeat("cd", 20)}, nil
}

func (m *memBackend) Rollback(_ context.Context, p api.Principal, name string, to int) (*api.SyncResult, error) {
	if _, err := m.get(p, name); err != nil {
		return nil, err
	}
	m.record(p, fmt.Sprintf("rollback-%d", to), name)
	return &api.SyncResult{App: name, Status: api.StatusSucceeded}, nil
}

func (m *memBackend) Unpin(_ context.Context, p api.Principal, name string) error {
	if _, err := m.get(p, name); err != nil {
		return err
	}
	m.record(p, "unpin", name)
	return nil
}

var _ Backend = (*memBackend)(nil)

// fleet returns n apps over projects of 50 apps, each with two workloads, one of them mid
// rollout, and a last sync.
func fleet(n int) []api.AppState {
	apps := make([]api.AppState, n)
	for i := range apps {
		name := fmt.Sprintf("app-%04d", i)
		ns := fmt.Sprintf("team-%02d", i/50)
		sha := fmt.Sprintf("%07x", i*7919)
		apps[i] = api.AppState{
			AppStatus: api.AppStatus{Name: name, Repo: "https://git.example.com/platform/" + ns + ".git", Ref: "main",
				Path: "apps/" + name, LastSync: &api.SyncResult{App: name, Revision: strings.Repeat(sha, 6)[:40],
					Trigger: "api", Status: api.StatusSucceeded, Started: time.Now().Add(-time.Duration(i) * time.Minute)}},
			Project: ns, Namespace: ns, Health: api.HealthHealthy, Sync: api.SyncSynced,
			SourceRepo: "https://gitlab.example.com/" + ns + "/" + name,
			Running: []api.RunningImage{
				{Object: "Deployment/" + ns + "/" + name, Container: "app", Image: "registry.example.com/" + ns + "/" + name + ":" + sha, Pods: 3, Ready: 3},
				{Object: "Deployment/" + ns + "/" + name + "-worker", Container: "worker", Image: "registry.example.com/" + ns + "/worker:v1.4.2", Pods: 2, Ready: 1},
			},
		}
		if i%17 == 0 {
			apps[i].Health, apps[i].Sync = api.HealthDegraded, api.SyncFailed
		}
	}
	return apps
}

// bigTree is an app of objects: Deployments with a ReplicaSet and pods each, Services and
// ConfigMaps, n nodes in all.
func bigTree(app string, n int) *api.Tree {
	t := &api.Tree{App: app}
	for i := 0; len(t.Nodes) < n; i++ {
		dep := fmt.Sprintf("Deployment/ns/web-%03d", i)
		rs := fmt.Sprintf("ReplicaSet/ns/web-%03d-6d4cf56db6", i)
		t.Nodes = append(t.Nodes,
			api.TreeNode{ID: dep, Kind: "Deployment", Group: "apps", Namespace: "ns", Name: fmt.Sprintf("web-%03d", i), Health: api.HealthHealthy, Info: "2/2 ready",
				Containers: []string{"web"}, Images: []string{"registry.example.com/web:3f2a1c9"}},
			api.TreeNode{ID: rs, Parent: dep, Kind: "ReplicaSet", Group: "apps", Namespace: "ns", Name: fmt.Sprintf("web-%03d-6d4cf56db6", i), Health: api.HealthHealthy, Info: "rev 3 · 2/2 ready"})
		for j := range 2 {
			name := fmt.Sprintf("web-%03d-6d4cf56db6-%05d", i, j)
			t.Nodes = append(t.Nodes, api.TreeNode{ID: "Pod/ns/" + name, Parent: rs, Kind: "Pod", Namespace: "ns", Name: name,
				Health: api.HealthHealthy, Info: "Running", Containers: []string{"web"}, Images: []string{"registry.example.com/web:3f2a1c9"}})
		}
		t.Nodes = append(t.Nodes,
			api.TreeNode{ID: fmt.Sprintf("Service/ns/web-%03d", i), Kind: "Service", Namespace: "ns", Name: fmt.Sprintf("web-%03d", i), Health: api.HealthHealthy, Info: "ClusterIP 10.96.0.10"},
			api.TreeNode{ID: fmt.Sprintf("ConfigMap/ns/web-%03d", i), Kind: "ConfigMap", Namespace: "ns", Name: fmt.Sprintf("web-%03d", i), Health: api.HealthHealthy, Info: "3 keys"})
	}
	t.Nodes = t.Nodes[:n]
	return t
}
