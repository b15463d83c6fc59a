package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// ServerOptions configure a Server. They come from flags.
type ServerOptions struct {
	// Token is the admin bearer token: it reads and acts on every app. Required.
	Token string
	// Interval is how often each app's repository is checked (git ls-remote; a sync runs only
	// for a new commit). Default: 3m. Negative disables polling (webhooks still poll).
	Interval time.Duration
	// Logger receives one line per sync and poll error. Default: discard.
	Logger *slog.Logger
	// GitLabWebhookSecret authenticates GitLab push webhooks (X-Gitlab-Token) and
	// GitHubWebhookSecret GitHub's (HMAC of the body): two secrets, because GitLab sends its
	// in clear. Default: "" (that forge's webhook answers 404).
	GitLabWebhookSecret, GitHubWebhookSecret string
	// LeaderElection makes the server lead only while it holds a Lease (server_leader.go).
	// Default: nil, the server leads from the start (one replica).
	LeaderElection *LeaderElection
	// AdvertiseURL is the base URL the other replicas forward requests to while this one
	// leads; it is published in the Lease. Required with LeaderElection.
	AdvertiseURL string
	// PeerTransport sends the requests forwarded to the leader. Default: http.DefaultTransport.
	PeerTransport http.RoundTripper
	// DrainTimeout bounds how long Run lets running syncs finish once its context ends, before
	// it cancels them (they stop before their next write). Default: 30s.
	DrainTimeout time.Duration
	// GitLab, when set, accepts GitLab CI id_tokens (server_oidc.go). Default: nil.
	GitLab *GitLabOIDC
	// HTTP are the listener's limits (server_http.go); handlers of long syncs use WriteTimeout.
	HTTP HTTPOptions
	// Console configures the web console at / and the drift check (server_console.go, drift.go).
	Console ConsoleOptions
}

// Server serves the HTTP API (Handler) and, while it leads, polls and syncs the apps (Run).
// Syncs of one app never overlap: a trigger waits for the running sync of its app, a poll
// skips its turn. Every replica answers the API; a follower forwards to the leader.
type Server struct {
	r        *Reconciler
	apps     map[string]*appState
	projects Projects
	opts     ServerOptions
	log      *slog.Logger
	metrics  *metrics
	gitlab   *gitlabVerifier
	ui       *serverConsole

	leading atomic.Bool
	leader  atomic.Pointer[leaderRef] // as last observed in the Lease
	ready   atomic.Bool

	mu         sync.Mutex
	work       context.Context // the leadership's; syncs run on it; nil while following
	cancelWork context.CancelCauseFunc
	draining   bool
	drained    chan struct{} // closed when draining starts: poll loops stop
	syncs      sync.WaitGroup
}

// leaderRef is the leader as a Lease names it.
type leaderRef struct{ identity, url string }

// appState is one app on the server: a cache of its state in the cluster, refreshed after
// each of its syncs and whenever the replica starts or becomes the leader.
type appState struct {
	app     App
	project string
	lock    chan struct{} // held by the running sync
	wake    chan struct{} // one pending poll (webhooks, unpin): more are coalesced

	mu       sync.Mutex
	syncing  bool
	state    *State
	nextPoll time.Time
}

// The reasons a sync's context ends, as context.Cause reports them.
var (
	errLostLead  = errors.New("this replica lost the leader lease")
	errDrained   = errors.New("the process is stopping and its drain timeout passed")
	errNotLeader = errors.New("no replica leads right now")
)

// NewServer returns a server for the apps and projects of cfg. Run starts its work.
func NewServer(r *Reconciler, cfg *Config, opts ServerOptions) (*Server, error) {
	if opts.Token == "" {
		return nil, errdefs.WithHint(errdefs.Invalid(errors.New("no API token")), "pass --token-file")
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	s := &Server{r: r, apps: map[string]*appState{}, projects: cfg.Projects, opts: opts,
		log: opts.Logger.With("replica", r.Identity()), metrics: newMetrics(), drained: make(chan struct{})}
	for _, p := range cfg.Projects {
		if p.Token != "" && equalSecret(p.Token, opts.Token) {
			return nil, errdefs.Invalid(fmt.Errorf("project %s has the admin token", p.Name))
		}
	}
	for _, a := range cfg.Apps {
		st := &appState{app: a, lock: make(chan struct{}, 1), wake: make(chan struct{}, 1), state: &State{}}
		if p := cfg.Projects.Of(a); p != nil {
			st.project = p.Name
		}
		s.apps[a.Name] = st
	}
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
	o.HTTP.fill()
	if o.LeaderElection != nil {
		if o.AdvertiseURL == "" {
			return errdefs.WithHint(errdefs.Invalid(errors.New("leader election needs the URL the other replicas reach this one at")),
				"pass --advertise-url (in a pod: set POD_IP)")
		}
		o.LeaderElection.fill()
	}
	return nil
}

// Registry returns the server's Prometheus metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// Identity returns the identity of this replica.
func (s *Server) Identity() string { return s.r.Identity() }

// Status returns what this replica says about itself.
func (s *Server) Status() api.ServerStatus {
	out := api.ServerStatus{Identity: s.Identity(), Leading: s.leading.Load(), Ready: s.ready.Load()}
	if l := s.leader.Load(); l != nil {
		out.Leader, out.LeaderURL = l.identity, l.url
	}
	return out
}

// begin registers a sync about to run on the leadership's context; ok is false when this
// replica does not lead or drains.
func (s *Server) begin() (work context.Context, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.work == nil || s.draining || s.work.Err() != nil {
		return nil, false
	}
	s.syncs.Add(1)
	return s.work, true
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

// status returns the state of one app.
func (st *appState) status() api.AppStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := api.AppStatus{Name: st.app.Name, Project: st.project, Repo: st.app.Repo, Ref: st.app.Revision, Path: st.app.Path,
		Syncing: st.syncing, LastSync: st.state.Last(), LastCommit: st.state.LastCommit, Pin: st.state.Pin}
	if !st.nextPoll.IsZero() {
		t := st.nextPoll
		out.NextPoll = &t
	}
	return out
}

// The page sizes of GET /api/v1/apps.
const (
	defaultListLimit = 500
	maxListLimit     = 1000
)

// list returns a page of the apps p may see (see api.AppList).
func (s *Server) list(p *principal, o api.ListOptions) api.AppList {
	if o.Limit <= 0 {
		o.Limit = defaultListLimit
	}
	names := make([]string, 0, len(s.apps))
	for name, st := range s.apps {
		if p.may(st) && name > o.Continue && (o.Project == "" || o.Project == st.project) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := api.AppList{Items: []api.AppStatus{}}
	for _, name := range names {
		if len(out.Items) == o.Limit {
			out.Continue = out.Items[len(out.Items)-1].Name
			break
		}
		if st := s.apps[name].status(); o.Status == "" || statusIs(st, o.Status) {
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
