package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// ServerOptions configure a Server. They come from flags.
type ServerOptions struct {
	// Token is the bearer token every API request must carry. Required.
	Token string
	// Interval is how often each app's repository is checked (git ls-remote; a sync runs only
	// for a new commit). Default: 3m. Negative disables polling.
	Interval time.Duration
	// Logger receives one line per sync and poll error. Default: discard.
	Logger *slog.Logger
	// WebhookSecret authenticates GitLab and GitHub push webhooks (serve_webhook.go).
	// Default: "" (webhooks answer 404).
	WebhookSecret string
	// LeaderElection says the server leads only once LeaderElection has won the lease.
	// Default: false (a single replica leads from the start).
	LeaderElection bool
}

// Server serves the HTTP API (Handler) and polls the apps (Poll). Syncs of one app never
// overlap: a trigger waits for the running sync of its app, a poll skips its turn.
type Server struct {
	r       *Reconciler
	apps    map[string]*appState
	opts    ServerOptions
	log     *slog.Logger
	metrics *metrics
	leader  atomic.Bool
	// base outlives requests: a sync started by a request finishes even if the client leaves.
	base context.Context
}

// appState is one app on the server.
type appState struct {
	app  App
	lock chan struct{} // held by the running sync

	mu         sync.Mutex
	syncing    bool
	last       *Result
	lastCommit string // the last commit a sync handled (see run)
	nextPoll   time.Time
}

// NewServer returns a server for the apps of cfg. It leads from the start unless
// opts.LeaderElection.
func NewServer(ctx context.Context, r *Reconciler, cfg *Config, opts ServerOptions) (*Server, error) {
	if opts.Token == "" {
		return nil, errdefs.WithHint(errdefs.Invalid(errors.New("no API token")), "pass --token-file")
	}
	if opts.Interval == 0 {
		opts.Interval = 3 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{r: r, apps: map[string]*appState{}, opts: opts,
		log: opts.Logger, metrics: newMetrics(), base: context.WithoutCancel(ctx)}
	for _, a := range cfg.Apps {
		s.apps[a.Name] = &appState{app: a, lock: make(chan struct{}, 1)}
	}
	s.leader.Store(!opts.LeaderElection)
	return s, nil
}

// SetLeader says whether this replica leads; only the leader syncs and is ready.
func (s *Server) SetLeader(v bool) { s.leader.Store(v) }

// Registry returns the server's Prometheus metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// authorized checks the bearer token in constant time (see equalSecret).
func (s *Server) authorized(header string) bool {
	token, ok := strings.CutPrefix(header, "Bearer ")
	return ok && equalSecret(token, s.opts.Token)
}

// trigger runs a sync of the app now, after the running one of the same app if any. The returned
// channel receives the final result; applied (when not nil) receives the result after apply,
// before the wait. It returns false when ctx ends while waiting for the app's lock.
func (s *Server) trigger(ctx context.Context, st *appState, opts SyncOptions, applied chan<- Result) (<-chan *Result, bool) {
	select {
	case st.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	if applied != nil {
		opts.OnApplied = func(r Result) { applied <- r }
	}
	done := make(chan *Result, 1)
	go func() {
		defer func() { <-st.lock }()
		done <- s.run(st, opts)
	}()
	return done, true
}

// run syncs with the app's lock held and records the outcome.
func (s *Server) run(st *appState, opts SyncOptions) *Result {
	st.mu.Lock()
	st.syncing = true
	st.mu.Unlock()
	res, err := s.r.Sync(s.base, st.app, opts)
	st.mu.Lock()
	st.syncing, st.last = false, res
	// A commit is handled once it synced, was refused, or failed its rollout; an operational
	// failure (git or cluster unreachable) is retried by the next poll.
	if res.Revision != "" && (res.ExitCode != exitcode.Failure || errors.Is(err, ErrRollout)) {
		st.lastCommit = res.Revision
	}
	st.mu.Unlock()
	s.metrics.observe(res)
	log := s.log.Info
	if err != nil {
		log = s.log.Warn
	}
	log("sync", "app", res.App, "trigger", res.Trigger, "revision", api.ShortRevision(res.Revision), "status", res.Status,
		"duration", time.Duration(res.Duration).Round(time.Millisecond), "message", res.Message)
	return res
}

// Poll checks every app's repository each Interval (with jitter, so apps do not poll in step)
// and syncs the apps whose revision moved, until ctx ends. The first round syncs every app.
func (s *Server) Poll(ctx context.Context) {
	if s.opts.Interval < 0 {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, st := range s.apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.pollLoop(ctx, st)
		}()
	}
	wg.Wait()
}

func (s *Server) pollLoop(ctx context.Context, st *appState) {
	for {
		s.pollOnce(ctx, st)
		next := s.opts.Interval + time.Duration(rand.Int64N(int64(s.opts.Interval)/10+1))
		st.mu.Lock()
		st.nextPoll = time.Now().Add(next)
		st.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// pollOnce lists the remote's refs and syncs only when the app's revision points at a commit
// that no sync has handled yet; while a sync of the app runs, it skips its turn.
func (s *Server) pollOnce(ctx context.Context, st *appState) {
	if !s.leader.Load() {
		return
	}
	rev, err := s.r.git.Resolve(ctx, st.app)
	if err != nil {
		s.metrics.polls.WithLabelValues(st.app.Name, "error").Inc()
		s.log.Warn("poll", "app", st.app.Name, "error", err)
		return
	}
	st.mu.Lock()
	unchanged := st.lastCommit == rev.Commit.String()
	st.mu.Unlock()
	if unchanged {
		s.metrics.polls.WithLabelValues(st.app.Name, "unchanged").Inc()
		return
	}
	select {
	case st.lock <- struct{}{}:
	default:
		return // a triggered sync is running; it deploys the new commit
	}
	defer func() { <-st.lock }()
	s.metrics.polls.WithLabelValues(st.app.Name, "changed").Inc()
	s.run(st, SyncOptions{Trigger: TriggerPoll})
}

// status returns the state of one app.
func (st *appState) status() api.AppStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := api.AppStatus{Name: st.app.Name, Repo: st.app.Repo, Ref: st.app.Revision, Path: st.app.Path,
		Syncing: st.syncing, LastSync: st.last}
	if !st.nextPoll.IsZero() {
		t := st.nextPoll
		out.NextPoll = &t
	}
	return out
}

// statuses returns every app's state, by name.
func (s *Server) statuses() []api.AppStatus {
	out := make([]api.AppStatus, 0, len(s.apps))
	for _, st := range s.apps {
		out = append(out, st.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
