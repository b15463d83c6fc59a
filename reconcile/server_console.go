package reconcile

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/console"
)

// The web console (package reconcile/console) is the server's face at /: every replica serves
// it, with sessions signed by a key all replicas share, so any replica accepts any session. The
// Server is the console's Backend: its reads and actions go through the code paths of the JSON
// API — the same project scoping (an app of another project is not found), the same no-op
// guard, rollback pin and app lock (syncJob, rollbackJob, trigger, unpin) — over the apps of
// the config now (a reload adds and removes apps). A replica that does not hold an app's shard
// forwards the app's pages to the replica that does, which knows what runs (forwardConsole);
// that replica checks the session again. The console's view of each app (health, running
// images, drift) is computed on the holder of its shard from the app's tree after each sync and
// by the drift check (drift.go), and published to the open pages' streams as it changes.

// ConsoleOptions configure the web console served at /.
type ConsoleOptions struct {
	// SessionKey signs the console's session cookies and CSRF tokens, at least 32 bytes; every
	// replica needs the same one (deploy/ mounts it from a Secret). Default: random, made when the
	// server starts: a restart then ends every session, and with several replicas a session
	// holds only on the replica that made it (the shard's holder answers the pages; a change of
	// holder ends every session). It is not derived from the admin token: a session cookie would then
	// let its holder test guesses of the admin token offline.
	SessionKey []byte
	// SecureCookies marks every cookie Secure, for a console behind a proxy that terminates
	// TLS. Default: only the cookies of requests that came over TLS.
	SecureCookies bool
	// DriftInterval is how often the holder of an app's shard dry-runs the app's sync to find
	// drift (OutOfSync, nothing applied). Default: the apps file's driftInterval, else 10m. Negative disables the
	// check.
	DriftInterval time.Duration
	// DriftJobs bounds the drift checks that run at once, over all shards; each takes a slot of
	// the sync pool too, after the triggers and polls waiting for one. Default: 2.
	DriftJobs int
}

func (o *ConsoleOptions) fill() error {
	if len(o.SessionKey) == 0 {
		o.SessionKey = make([]byte, 32)
		rand.Read(o.SessionKey) // never fails (crypto/rand)
	}
	if len(o.SessionKey) < 32 {
		return errdefs.WithHint(errdefs.Invalid(errors.New("the console's session key is shorter than 32 bytes")),
			"write 32 random bytes or more into --session-key-file: head -c 48 /dev/urandom | base64")
	}
	if o.DriftInterval == 0 {
		o.DriftInterval = 10 * time.Minute
	}
	if o.DriftJobs <= 0 {
		o.DriftJobs = 2
	}
	return nil
}

// maxPreviews bounds the console's dry runs that run at once; the others wait their turn.
const maxPreviews = 4

// serverConsole is the console's side of the server.
type serverConsole struct {
	c *console.Console
	// credKey keys the MACs that bind sessions to their tokens (api.Principal.Credential).
	credKey []byte
	// previews bounds the console's dry runs (Diff tab, Sync dialog) that run at once.
	previews chan struct{}
	// drift bounds the drift checks that run at once (DriftJobs), over all shards.
	drift chan struct{}
	// publishing makes an app's snapshot and its delivery one step: two goroutines publishing
	// the same app (a sync's end, the state informer) deliver in the order they read it, so the
	// last state a page gets is the last one read.
	publishing sync.Mutex

	outOfSync   *prometheus.GaugeVec
	driftChecks *prometheus.CounterVec
}

// appView is what the console shows of an app beyond its state in the cluster: the health and
// images of its tree, and the last drift check (appState.view).
type appView struct {
	mu        sync.Mutex
	health    api.Health
	healthMsg string
	running   []api.RunningImage
	drift     bool
	checked   time.Time
	driftErr  string
	// syncs counts the syncs that ended: a drift found by a check that began before the last
	// sync ended is stale.
	syncs uint64
	// shared is the view this replica last shared with the others (server_view.go).
	shared string
	// inSync is what the last drift check that found the app in sync compared (drift.go).
	inSync *inSync
}

var _ console.Backend = (*Server)(nil)

// newConsole sets up the console: NewServer calls it.
func (s *Server) newConsole() error {
	o := &s.opts.Console
	if err := o.fill(); err != nil {
		return err
	}
	credKey, err := hkdf.Key(sha256.New, o.SessionKey, nil, "tagrelay-reconciler console credential v1", 32)
	if err != nil {
		return err
	}
	c, err := console.New(s, console.Options{SessionKey: o.SessionKey, Secure: o.SecureCookies, Logger: s.log})
	if err != nil {
		return err
	}
	ui := &serverConsole{c: c, credKey: credKey, previews: make(chan struct{}, maxPreviews), drift: make(chan struct{}, o.DriftJobs),
		outOfSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tagrelay_reconciler_out_of_sync",
			Help: "1 while the app's last drift check found that a sync would change objects, else 0."}, []string{"app"}),
		driftChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_drift_checks_total",
			Help: "Drift checks by result (in_sync, out_of_sync, error, busy: skipped while a sync ran)."}, []string{"result"}),
	}
	s.metrics.registry.MustRegister(ui.outOfSync, ui.driftChecks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tagrelay_reconciler_console_streams",
			Help: "Live-update streams open on this replica: one per open console page."}, func() float64 { return float64(c.Streams()) }))
	s.ui = ui
	return nil
}

// Console returns the server's web console (Handler serves it at /).
func (s *Server) Console() *console.Console { return s.ui.c }

// MetricsHandler serves /metrics without a token, for a listener of its own (--metrics-listen).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

// AdminOnly lets through the requests that carry the admin token, and answers 401 to the others:
// /metrics on the API's listener.
func (s *Server) AdminOnly(h http.Handler) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) {
		if p.project != "" || p.caller.Kind != api.CallerAdmin {
			writeJSON(w, http.StatusForbidden, api.Error{Error: "the admin token only", Hint: "send the admin token (--token-file)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// consolePaths are the console's paths that every replica answers itself: they need no state.
var consolePaths = []string{"/login", "/logout", "/static/"}

// consoleHandler serves the console, forwarding to the holder of an app's shard what needs its
// state.
func (s *Server) consoleHandler() http.Handler {
	h := s.ui.c.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.forwardConsole(w, r, h) {
			h.ServeHTTP(w, r)
		}
	})
}

// consoleShard returns the shard whose holder answers a console request: the app's for the
// pages of an app (/apps/NAME/...), the only one for the overview when there is one; nil when
// any replica answers (login, static files, an unknown app, the overview over several shards:
// every replica has the apps' state summaries, and the views of the apps of the shards it
// holds).
func (s *Server) consoleShard(r *http.Request) *shard {
	for _, p := range consolePaths {
		if r.URL.Path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) {
			return nil
		}
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/apps/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		if st := s.app(name); st != nil {
			return s.shardFor(st)
		}
		return nil
	}
	if len(s.shards) == 1 {
		return s.shards[0]
	}
	return nil
}

// forwardConsole proxies a console request to the holder of its shard (consoleShard) when this
// replica does not hold it and knows who does, and reports whether it did. The request keeps
// its Host (the console checks a POST's Origin against it) and its cookies: the holder checks
// the session and the CSRF token itself. A request another replica forwarded is answered here
// (never forwarded twice), and so is a page whose holder cannot be reached (from this
// replica's cached state: actions then answer that no replica holds the app's shard). Streams
// are proxied as they come, with no write deadline.
func (s *Server) forwardConsole(w http.ResponseWriter, r *http.Request, local http.Handler) bool {
	if r.Header.Get(api.ForwardedHeader) != "" {
		return false
	}
	sh := s.consoleShard(r)
	if sh == nil || sh.held() {
		return false
	}
	l := s.owner(sh)
	if l == nil || l.url == "" || l.identity == s.Identity() {
		return false
	}
	target, err := url.Parse(l.url)
	if err != nil {
		return false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	s.metrics.forwarded.Inc()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(api.ForwardedHeader, s.Identity())
		},
		Transport: s.opts.PeerTransport,
		ModifyResponse: func(resp *http.Response) error {
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				_ = rc.SetWriteDeadline(time.Now().Add(s.opts.HTTP.WriteTimeout))
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				r.Header.Set(api.ForwardedHeader, s.Identity()) // answer here
				local.ServeHTTP(w, r)
				return
			}
			if r.Context().Err() != nil {
				return
			}
			s.log.Warn("forwarding a console request to the holder of its shard", "holder", l.identity, "error", err)
			if cert := (*tls.CertificateVerificationError)(nil); errors.As(err, &cert) {
				// nothing was sent, and reloading meets the same certificate: say what to fix
				http.Error(w, "the certificate of the replica "+l.identity+" holding the app was refused ("+cert.Err.Error()+
					"): the replicas' certificates must be signed by the CA they trust for each other (serve --peer-ca-file)", http.StatusBadGateway)
				return
			}
			http.Error(w, "the replica "+l.identity+" holding the app did not answer: reload the page", http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
	return true
}

// leadershipChanged tells the open pages to reload when this replica takes or loses a shard:
// the state they show moves with it.
func (s *Server) leadershipChanged() { s.ui.c.ReloadStreams() }

// credential is the MAC that binds a session to its token.
func (s *Server) credential(token string) string {
	m := hmac.New(sha256.New, s.ui.credKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// Authenticate maps a token typed into the console's login form to a principal, exactly as the
// API authenticates a bearer token (admin, project token, GitLab CI id_token). The principal's
// Name is its caller as the history records it.
func (s *Server) Authenticate(ctx context.Context, token string) (api.Principal, error) {
	p, err := s.authenticateToken(ctx, token)
	if err != nil {
		return api.Principal{}, err
	}
	out := api.Principal{Name: p.caller.String(), Admin: p.project == "", Project: p.project, Caller: p.caller, Expires: p.expires}
	if p.caller.Kind != api.CallerGitLab { // an id_token expires instead
		out.Credential = s.credential(token)
	}
	return out, nil
}

// principalOf checks a session's principal against the server's tokens and projects as they
// are now: a session whose token changed, whose project is gone, or whose id_token expired
// ends (console.ErrSessionEnded).
func (s *Server) principalOf(p api.Principal) (*principal, error) {
	c := p.Caller
	if c == nil {
		return nil, console.ErrSessionEnded
	}
	bound := func(token string) bool {
		return token != "" && hmac.Equal([]byte(p.Credential), []byte(s.credential(token)))
	}
	switch c.Kind {
	case api.CallerAdmin:
		if p.Admin && p.Project == "" && bound(s.opts.Token) {
			return &principal{caller: c}, nil
		}
	case api.CallerProject:
		for _, pr := range s.current().projects {
			if pr.Name == c.Project && pr.Name == p.Project && !p.Admin && bound(pr.Token) {
				return &principal{caller: c, project: pr.Name}, nil
			}
		}
	case api.CallerGitLab:
		ps := s.current().projects.ForGitLab(c.Name)
		if s.gitlab != nil && len(ps) == 1 && ps[0].Name == p.Project && c.Project == p.Project && !p.Admin &&
			!p.Expires.IsZero() && time.Now().Before(p.Expires) {
			return &principal{caller: c, project: p.Project, expires: p.Expires}, nil
		}
	}
	return nil, console.ErrSessionEnded
}

// consoleApp returns the app p may see, or not found: an app of another project answers like
// one that does not exist.
func (s *Server) consoleApp(p api.Principal, name string) (*principal, *appState, error) {
	pr, err := s.principalOf(p)
	if err != nil {
		return nil, nil, err
	}
	st := s.app(name)
	if st == nil || !pr.may(st) {
		return nil, nil, errdefs.WithHint(errdefs.NotFound(fmt.Errorf("no app %q", name)), "the overview lists the apps you may see")
	}
	return pr, st, nil
}

// stateOf is an app as the console shows it: its status, and the view of its tree and drift.
func (s *Server) stateOf(st *appState, status api.AppStatus) api.AppState {
	st.mu.Lock()
	app, project := st.app, st.project
	st.mu.Unlock()
	v := &st.view
	v.mu.Lock()
	out := api.AppState{AppStatus: status, Project: project, Namespace: app.Namespace, Health: v.health,
		HealthMessage: v.healthMsg, Running: slices.Clone(v.running), SourceRepo: app.SourceRepo,
		DriftChecked: v.checked, DriftError: v.driftErr}
	drift := v.drift
	v.mu.Unlock()
	for i := range out.Running {
		out.Running[i].SourceRepo = s.sourceRepo(st, out.Running[i].Image)
	}
	if status.Pin.Active() {
		out.Pinned = status.Pin.Revision
	}
	out.Sync = api.SyncStateOf(status.Syncing, status.LastSync, drift)
	return out
}

// sourceRepo returns the web URL of the repository an image of the app is built from, "" when
// unknown. The app's sourceRepo (apps.yaml) says it for every image of the app; this is the one
// place to ask, so a source recorded per image (the Tagrelay-Source-Repo trailer of the infra
// commit that set it) can answer here first.
func (s *Server) sourceRepo(st *appState, image string) string {
	_ = image
	return st.spec().SourceRepo
}

// publish sends the app's state to the console's open pages.
func (s *Server) publish(st *appState) {
	s.ui.publishing.Lock()
	defer s.ui.publishing.Unlock()
	s.ui.c.Publish(s.stateOf(st, st.status()))
}

// stateChanged publishes an app whose state summary changed (server_state.go's informer):
// every replica's open pages follow the syncs of apps of shards other replicas hold, and a
// summary that arrives after the end of a sync on its holder does not leave its pages behind.
func (s *Server) stateChanged(st *appState) {
	if s.ui != nil && s.ui.c.Streams() > 0 {
		s.publish(st)
	}
}

// setTree records the health and running images of the app's tree (or the error reading it)
// and reports whether they changed.
func (s *Server) setTree(st *appState, t *api.Tree, err error) bool {
	h, msg, running := api.HealthUnknown, "", []api.RunningImage(nil)
	if err != nil {
		msg = "reading the app's objects: " + err.Error()
	} else {
		h, msg = t.Health()
		running = t.Running()
	}
	v := &st.view
	v.mu.Lock()
	defer v.mu.Unlock()
	changed := v.health != h || v.healthMsg != msg || !slices.Equal(v.running, running)
	v.health, v.healthMsg, v.running = h, msg, running
	return changed
}

// refreshTree reads the app's tree and records its health (see setTree).
func (s *Server) refreshTree(ctx context.Context, st *appState) (changed bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t, err := s.r.Tree(ctx, st.spec())
	return s.setTree(st, t, err)
}

// syncStarted and syncEnded are runJob's: the open pages see the app syncing, then its new
// state. A sync that succeeded applied what the repository says: no drift is left.
func (s *Server) syncStarted(st *appState) { s.publish(st) }

func (s *Server) syncEnded(ctx context.Context, st *appState, res *Result) {
	if res != nil {
		v := &st.view
		v.mu.Lock()
		v.syncs++
		if res.Status == api.StatusSucceeded {
			v.drift = false
			s.ui.outOfSync.WithLabelValues(st.name).Set(0)
		}
		v.mu.Unlock()
		s.refreshTree(context.WithoutCancel(ctx), st)
		s.shareView(ctx, st)
	}
	s.publish(st)
}

// Apps returns a page of the apps p sees: the API's list (its scoping and project filter), by
// project then name, filtered by health, sync state or pin.
func (s *Server) Apps(_ context.Context, p api.Principal, f api.AppFilter) (*api.AppPage, error) {
	pr, err := s.principalOf(p)
	if err != nil {
		return nil, err
	}
	set := s.current()
	projects := map[string]bool{}
	for _, st := range set.apps {
		if pr.may(st) {
			st.mu.Lock()
			projects[st.project] = true
			st.mu.Unlock()
		}
	}
	items := s.list(pr, api.ListOptions{Project: f.Project, Limit: len(set.apps) + 1}).Items
	states := make([]api.AppState, 0, len(items))
	for _, it := range items {
		if st := s.app(it.Name); st != nil { // nil: removed by a reload meanwhile
			states = append(states, s.stateOf(st, it))
		}
	}
	sort.SliceStable(states, func(i, j int) bool { return states[i].Project < states[j].Project })
	out := &api.AppPage{Apps: []api.AppState{}, Counts: map[string]int{}, Projects: make([]string, 0, len(projects))}
	for name := range projects {
		out.Projects = append(out.Projects, name)
	}
	sort.Strings(out.Projects)
	for i := range states {
		a := &states[i]
		out.Counts[string(a.Health)]++
		out.Counts[string(a.Sync)]++
		if a.Pinned != "" {
			out.Counts["Pinned"]++
		}
		if !f.Match(a) {
			continue
		}
		if out.Total >= f.Offset && (f.Limit <= 0 || len(out.Apps) < f.Limit) {
			out.Apps = append(out.Apps, *a)
		}
		out.Total++
	}
	return out, nil
}

// App returns one app's state (GET /api/v1/apps/NAME's, with the console's view).
func (s *Server) App(_ context.Context, p api.Principal, name string) (*api.AppState, error) {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	out := s.stateOf(st, st.status())
	return &out, nil
}

// History returns the app's recorded syncs (GET /api/v1/apps/NAME/history's).
func (s *Server) History(ctx context.Context, p api.Principal, name string) ([]api.SyncResult, error) {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	return s.r.History(ctx, st.name)
}

// Tree returns the app's resource tree, read now; the health it shows is recorded (and
// published when it changed).
func (s *Server) Tree(ctx context.Context, p api.Principal, name string) (*api.Tree, error) {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	t, err := s.r.Tree(ctx, st.spec())
	if err == nil && s.shardFor(st).held() && s.setTree(st, t, nil) {
		s.publish(st)
	}
	return t, err
}

// Preview dry-runs a sync of the app as a trigger would run it (the commit its revision points
// at) and gives the verdict the trigger would get: the no-op guard's, or the rollback pin's. A
// preview of an app that is not pinned is a drift check too.
func (s *Server) Preview(ctx context.Context, p api.Principal, name string) (*api.Preview, error) {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	// a dry run fetches, renders and asks the API server: the pages' dry runs take turns, so
	// that reloading a Diff tab cannot load the reconciler more than a few syncs do
	select {
	case s.ui.previews <- struct{}{}:
		defer func() { <-s.ui.previews }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	state := st.cached()
	v := &st.view
	v.mu.Lock()
	syncs := v.syncs
	v.mu.Unlock()
	app := st.spec()
	pv, err := s.r.Preview(ctx, app)
	if err != nil {
		return pv, err
	}
	if pin := state.Pin; pin.Active() {
		if pv.Result.Revision == pin.Over {
			pv.Refusal = pinnedError(app.Name, pin).Error()
		}
	} else if s.shardFor(st).held() && s.setDrift(st, pv.OutOfSync(), nil, syncs) {
		s.publish(st)
	}
	return pv, nil
}

// Events returns the events of the app's objects.
func (s *Server) Events(ctx context.Context, p api.Principal, name string) ([]api.Event, error) {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	t, err := s.r.Tree(ctx, st.spec())
	if err != nil {
		return nil, err
	}
	return s.r.Events(ctx, t)
}

// Logs sends the log lines of a container of one of the app's pods (a pod outside the app's
// tree is refused).
func (s *Server) Logs(ctx context.Context, p api.Principal, name string, q api.LogQuery, emit func(api.LogLine) error) error {
	_, st, err := s.consoleApp(p, name)
	if err != nil {
		return err
	}
	t, err := s.r.Tree(ctx, st.spec())
	if err != nil {
		return err
	}
	return s.r.Logs(ctx, t, q, emit)
}

// Sync triggers a sync as POST /api/v1/apps/NAME/sync does, with p as the caller; it returns
// once the sync applied (or was refused, or failed), and the open pages follow it to its end.
func (s *Server) Sync(ctx context.Context, p api.Principal, name string, req api.SyncRequest) (*api.SyncResult, error) {
	pr, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	return consoleResult(s.trigger(ctx, st, req.Wait, s.syncJob(), triggerOptions(req, pr.caller)))
}

// Rollback rolls the app back to history entry to and pins it there, as POST
// /api/v1/apps/NAME/rollback does.
func (s *Server) Rollback(ctx context.Context, p api.Principal, name string, to int) (*api.SyncResult, error) {
	pr, st, err := s.consoleApp(p, name)
	if err != nil {
		return nil, err
	}
	return consoleResult(s.trigger(ctx, st, false, s.rollbackJob(api.RollbackTarget{Entry: to}), SyncOptions{Caller: pr.caller}))
}

// Unpin ends the app's rollback pin, as DELETE /api/v1/apps/NAME/pin does.
func (s *Server) Unpin(ctx context.Context, p api.Principal, name string) error {
	pr, st, err := s.consoleApp(p, name)
	if err != nil {
		return err
	}
	uerr, err := s.unpin(ctx, st, pr.caller)
	if _, err := consoleResult(nil, err); err != nil {
		return err
	}
	s.publish(st)
	return uerr
}

// consoleResult words trigger's errors for the console.
func consoleResult(res *Result, err error) (*Result, error) {
	if errors.Is(err, errNotLeader) {
		return nil, errdefs.WithHint(errdefs.Unavailable(errors.New("no replica holds the app's shard right now: nothing was done")),
			"try again in a few seconds: a replica takes the shard over within the lease duration")
	}
	return res, err
}
