package reconcile

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/cache"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// ServerOptions configure a Server. They come from flags.
type ServerOptions struct {
	// Token is the admin bearer token: it reads and acts on every app. Required.
	Token string
	// Interval is how often each repository is checked (git ls-remote, one per repository and
	// credential for all its apps; a sync runs only for a new commit). Default: 3m. Negative
	// disables polling (webhooks still poll).
	Interval time.Duration
	// Logger receives one line per sync and poll error. Default: discard.
	Logger *slog.Logger
	// GitLabWebhookSecret authenticates GitLab push webhooks (X-Gitlab-Token) and
	// GitHubWebhookSecret GitHub's (HMAC of the body): two secrets, because GitLab sends its
	// in clear. Default: "" (that forge's webhook answers 404).
	GitLabWebhookSecret, GitHubWebhookSecret string
	// LeaderElection makes the server work only on the shards whose Lease it holds
	// (server_leader.go, shard_lease.go). Default: nil, the server works on every app from the
	// start (one replica).
	LeaderElection *LeaderElection
	// AdvertiseURL is the base URL the other replicas forward requests to for the shards this
	// one holds; it is published in their Leases. Required with LeaderElection.
	AdvertiseURL string
	// PeerTransport sends the requests forwarded to the owner. Default: http.DefaultTransport.
	PeerTransport http.RoundTripper
	// DrainTimeout bounds how long Run lets running syncs finish once its context ends, before
	// it cancels them (they stop before their next write). Default: 30s.
	DrainTimeout time.Duration
	// GitLab, when set, accepts GitLab CI id_tokens (server_oidc.go). Default: nil.
	GitLab *GitLabOIDC
	// HTTP are the listener's limits (server_http.go); handlers of long syncs use WriteTimeout.
	HTTP HTTPOptions
	// MaxConcurrentSyncs bounds the syncs that fetch, render and apply at once, over all apps
	// (server_pool.go); health waits do not count. Default: DefaultMaxConcurrentSyncs.
	MaxConcurrentSyncs int
	// FirstRoundSpread spreads the first poll of each repository after the server starts, or
	// takes over a shard, over this duration. Default: Interval/10, at most 10s.
	FirstRoundSpread time.Duration
	// Config, when set, is read again when its files change and by the git generators each
	// Interval (config_reload.go): apps and projects come and go without a restart. Default:
	// nil, the apps of NewServer's config for good.
	Config *ConfigSource
	// Console configures the web console at / and the drift check (server_console.go, drift.go).
	Console ConsoleOptions
}

// DefaultMaxConcurrentSyncs fits a 512 MiB memory limit: each sync holds at most its source
// (8 MiB by default) and its rendered objects while it runs; see docs/reconciler.md, "Scale".
const DefaultMaxConcurrentSyncs = 8

// Server serves the HTTP API (Handler) and polls and syncs the apps of the shards it holds
// (Run). Syncs of one app never overlap: a trigger waits for the running sync of its app, a
// poll skips its turn. Every replica answers the API; writes go to the app's owner.
type Server struct {
	r       *Reconciler
	opts    ServerOptions
	log     *slog.Logger
	metrics *metrics
	gitlab  *gitlabVerifier
	pool    *syncPool
	ui      *serverConsole

	set   atomic.Pointer[appSet] // the apps and projects, replaced when the config changes
	setMu sync.Mutex             // serialises reloads; guards the fields below
	// What each config source gave last, which apps to prune once removed, the generators and
	// the watched files (config_reload.go, generator_git.go).
	sources               map[string]*configPart
	prunable              map[string]bool
	gens                  []Generator
	gitSeen               map[int]string // commit each git generator was read at
	watchFiles, watchDirs map[string]bool

	states cache.Store // the apps' state summaries (server_state.go); nil until Run
	shards []*shard
	le     *election // nil without leader election
	ready  atomic.Bool

	mu       sync.Mutex
	draining bool
	drained  chan struct{} // closed when draining starts: poll loops stop
}

// The reasons a sync's context ends, as context.Cause reports them.
var (
	errLostLead  = errors.New("this replica lost the shard's lease")
	errDrained   = errors.New("the process is stopping and its drain timeout passed")
	errNotLeader = errors.New("no replica holds the app's shard right now")
)

// NewServer returns a server for the apps and projects of cfg. Run starts its work.
func NewServer(r *Reconciler, cfg *Config, opts ServerOptions) (*Server, error) {
	if opts.Token == "" {
		return nil, errdefs.WithHint(errdefs.Invalid(errors.New("no API token")), "pass --token-file")
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	s := &Server{r: r, opts: opts, log: opts.Logger.With("replica", r.Identity()), metrics: newMetrics(),
		drained: make(chan struct{}), sources: map[string]*configPart{}}
	if err := checkProjectTokens(cfg.Projects, opts.Token); err != nil {
		return nil, err
	}
	s.pool = newSyncPool(opts.MaxConcurrentSyncs, s.metrics)
	n := 1
	if opts.LeaderElection != nil {
		n = opts.LeaderElection.Shards
		s.le = newElection(s)
	}
	for i := range n {
		s.shards = append(s.shards, &shard{index: i})
	}
	s.set.Store(s.newSet(cfg.Apps, cfg.Projects, nil))
	if opts.GitLab != nil {
		s.gitlab = newGitLabVerifier(*opts.GitLab)
	}
	if s.opts.Console.DriftInterval == 0 {
		s.opts.Console.DriftInterval = time.Duration(cfg.DriftInterval)
	}
	if err := s.newConsole(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkProjectTokens refuses a project holding the admin token.
func checkProjectTokens(ps Projects, admin string) error {
	for _, p := range ps {
		if p.Token != "" && equalSecret(p.Token, admin) {
			return errdefs.Invalid(fmt.Errorf("project %s has the admin token", p.Name))
		}
	}
	return nil
}

func (o *ServerOptions) fill() error {
	if o.Interval == 0 {
		o.Interval = 3 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.PeerTransport == nil {
		o.PeerTransport = http.DefaultTransport
	}
	if o.MaxConcurrentSyncs <= 0 {
		o.MaxConcurrentSyncs = DefaultMaxConcurrentSyncs
	}
	if o.FirstRoundSpread <= 0 {
		o.FirstRoundSpread = min(max(o.Interval/10, 0), 10*time.Second)
	}
	o.HTTP.fill()
	if o.LeaderElection != nil {
		if o.AdvertiseURL == "" {
			return errdefs.WithHint(errdefs.Invalid(errors.New("leader election needs the URL the other replicas reach this one at")),
				"pass --advertise-url (in a pod: set POD_IP)")
		}
		if err := o.LeaderElection.fill(); err != nil {
			return err
		}
	}
	return nil
}

// Registry returns the server's Prometheus metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// Identity returns the identity of this replica.
func (s *Server) Identity() string { return s.r.Identity() }

// Status returns what this replica says about itself and the shards.
func (s *Server) Status() api.ServerStatus {
	out := api.ServerStatus{Identity: s.Identity(), Ready: s.ready.Load(), Members: 1}
	for _, sh := range s.shards {
		ss := api.ShardStatus{Shard: sh.index, Apps: s.current().shardSizes[sh.index]}
		if sh.held() {
			ss.Holder, ss.URL = s.Identity(), s.opts.AdvertiseURL
			out.Leading = true
		} else if o := s.owner(sh); o != nil {
			ss.Holder, ss.URL = o.identity, o.url
		}
		out.Shards = append(out.Shards, ss)
	}
	if len(out.Shards) > 0 {
		out.Leader, out.LeaderURL = out.Shards[0].Holder, out.Shards[0].URL
		if out.Leader == s.Identity() {
			out.LeaderURL = ""
		}
	}
	if s.le != nil {
		out.Members = s.le.memberCount()
	}
	return out
}

// appState is one app on the server: its spec (replaced when the config changes) and a cache of
// its state in the cluster (server_state.go), refreshed by the owner after each of its syncs.
type appState struct {
	name string
	lock chan struct{} // held by the running sync
	wake chan struct{} // one pending poll (webhooks, unpin): more are coalesced

	mu       sync.Mutex
	app      App
	project  string
	shard    int
	forced   bool // the spec changed: the next poll syncs even a handled commit
	removed  bool // no longer in the config
	syncing  bool
	state    *State
	nextPoll time.Time

	// view is what the console shows of the app beyond its state (server_console.go); it
	// carries over a config reload with the appState.
	view appView
}

func newAppState(a App) *appState {
	return &appState{name: a.Name, app: a, lock: make(chan struct{}, 1), wake: make(chan struct{}, 1), state: &State{},
		view: appView{health: api.HealthUnknown}}
}

// spec returns the app's spec.
func (st *appState) spec() App {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.app
}

// setState replaces the app's cached state.
func (st *appState) setState(state *State) {
	st.mu.Lock()
	st.state = state
	st.mu.Unlock()
}

func (st *appState) cached() *State {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state
}

// status returns the state of one app. A replica that does not own the app knows a sync runs
// from its in-flight mark only.
func (st *appState) status() api.AppStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := api.AppStatus{Name: st.name, Project: st.project, Repo: st.app.Repo, Ref: st.app.Revision, Path: st.app.Path,
		Syncing: st.syncing || st.state.InFlight != nil, LastSync: st.state.Last(), LastCommit: st.state.LastCommit, Pin: st.state.Pin}
	if !st.nextPoll.IsZero() {
		t := st.nextPoll
		out.NextPoll = &t
	}
	return out
}

// current returns the apps and projects of the config now.
func (s *Server) current() *appSet { return s.set.Load() }

// app returns the app called name, nil when there is none.
func (s *Server) app(name string) *appState { return s.current().apps[name] }

// The page sizes of GET /api/v1/apps.
const (
	defaultListLimit = 500
	maxListLimit     = 1000
)

// list returns a page of the apps p may see (see api.AppList). It costs the page, not the
// number of apps: the names are kept sorted (per project too), the page starts by binary search
// after Continue, and states come from memory; only a status filter may scan further.
func (s *Server) list(p *principal, o api.ListOptions) api.AppList {
	if o.Limit <= 0 {
		o.Limit = defaultListLimit
	}
	set := s.current()
	project := o.Project
	if p.project != "" {
		if project != "" && project != p.project {
			return api.AppList{Items: []api.AppStatus{}}
		}
		project = p.project
	}
	names := set.names
	if project != "" {
		names = set.byProject[project]
	}
	out := api.AppList{Items: []api.AppStatus{}}
	for i := sort.SearchStrings(names, o.Continue); i < len(names); i++ {
		if names[i] == o.Continue {
			continue
		}
		if len(out.Items) == o.Limit {
			out.Continue = out.Items[len(out.Items)-1].Name
			break
		}
		if st := set.apps[names[i]].status(); o.Status == "" || statusIs(st, o.Status) {
			out.Items = append(out.Items, st)
		}
	}
	return out
}

// statusIs matches an app against a status filter: its last sync's status, Pinned, Syncing or
// Never (never synced).
func statusIs(st api.AppStatus, status string) bool {
	switch status {
	case "Pinned":
		return st.Pin.Active()
	case "Syncing":
		return st.Syncing
	case "Never":
		return st.LastSync == nil
	}
	return st.LastSync != nil && string(st.LastSync.Status) == status
}
