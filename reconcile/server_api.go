package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// maxBody bounds a request's body.
const maxBody = 64 << 10

// Handler returns the HTTP API (package api), the webhooks, the web console at / (every page
// behind a login: server_console.go), /healthz (alive) and /readyz (ready once the apps' state
// is loaded, until the replica drains: every replica is ready, the leader or not, so rolling
// updates complete). /metrics is served by MetricsHandler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/apps/{name}/sync", s.authed(s.handleSync))
	mux.Handle("POST /api/v1/apps/{name}/rollback", s.authed(s.handleRollback))
	mux.Handle("DELETE /api/v1/apps/{name}/pin", s.authed(s.handleUnpin))
	mux.Handle("GET /api/v1/apps/{name}/history", s.authed(s.handleHistory))
	mux.Handle("GET /api/v1/apps/{name}", s.authed(s.handleApp))
	mux.Handle("GET /api/v1/apps", s.authed(s.handleList))
	mux.Handle("GET "+api.ServerPath, s.authed(func(w http.ResponseWriter, _ *http.Request, _ *principal) { writeJSON(w, http.StatusOK, s.Status()) }))
	mux.HandleFunc("POST /api/v1/webhooks/gitlab", s.handleGitLab)
	mux.HandleFunc("POST /api/v1/webhooks/github", s.handleGitHub)
	mux.Handle("/", s.consoleHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: loading the apps' state, or draining", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// handleList answers a page of the apps the caller may see (api.AppList).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	o := api.ListOptions{Project: q.Get("project"), Status: q.Get("status"), Continue: q.Get("continue")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxListLimit {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "invalid limit " + strconv.Quote(l), Hint: "pass limit=1 to 1000"})
			return
		}
		o.Limit = n
	}
	writeJSON(w, http.StatusOK, s.list(p, o))
}

func (s *Server) handleApp(w http.ResponseWriter, r *http.Request, p *principal) {
	if st := s.appFor(w, r, p); st != nil && !s.route(w, r, st, true) {
		writeJSON(w, http.StatusOK, st.status())
	}
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, p *principal) {
	st := s.appFor(w, r, p)
	if st == nil {
		return
	}
	hist, err := s.r.History(r.Context(), st.name)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: err.Error()})
		return
	}
	if hist == nil {
		hist = []Result{}
	}
	writeJSON(w, http.StatusOK, hist)
}

// handleSync runs a triggered sync: the no-op guard is on. Without wait it answers 202 once
// the app is applied (or earlier with the refusal or failure); with wait, when healthy or not.
// A trigger of the commit a rollback pinned over is refused (412); a new commit ends the pin.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request, p *principal) {
	st := s.appFor(w, r, p)
	if st == nil || s.route(w, r, st, false) {
		return
	}
	var req api.SyncRequest
	if !decodeBody(w, r, &req, `send {"expectImage": "NAME:TAG", "allowNoop": false, "restart": false, "wait": true}`) {
		return
	}
	s.runRequest(w, r, st, req.Wait, s.syncJob(), triggerOptions(req, p.caller))
}

// runFunc is the work of a requested sync, run on the app's lock with its spec and state.
type runFunc func(ctx context.Context, app App, state *State, o SyncOptions) *Result

// triggerOptions are the options of a triggered sync (the API's and the console's): the no-op
// guard is on.
func triggerOptions(req api.SyncRequest, caller *api.Caller) SyncOptions {
	return SyncOptions{Trigger: TriggerAPI, Guard: true, ExpectImage: req.ExpectImage, AllowNoop: req.AllowNoop,
		Restart: req.Restart, Caller: caller}
}

// syncJob is a triggered sync: refused while a rollback pins the app over the commit its
// revision points at (412); a new commit ends the pin.
func (s *Server) syncJob() runFunc {
	return func(ctx context.Context, app App, state *State, o SyncOptions) *Result {
		if state.Pin.Active() {
			head, err := s.r.git.Resolve(ctx, app)
			if err == nil && head.Commit.String() == state.Pin.Over {
				err = pinnedError(app.Name, state.Pin)
			}
			if err != nil {
				return errorResult(app.Name, TriggerAPI, err)
			}
		}
		res, _ := s.r.Sync(ctx, app, o)
		return res
	}
}

// rollbackJob rolls the app back to a history entry or a commit and pins it there.
func (s *Server) rollbackJob(to api.RollbackTarget) runFunc {
	return func(ctx context.Context, app App, state *State, o SyncOptions) *Result {
		res, err := s.r.Rollback(ctx, app, to, o)
		if res == nil {
			return errorResult(app.Name, TriggerRollback, err)
		}
		return res
	}
}

// handleRollback rolls the app back to a history entry or a commit and pins it there.
func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request, p *principal) {
	st := s.appFor(w, r, p)
	if st == nil || s.route(w, r, st, false) {
		return
	}
	var req api.RollbackRequest
	if !decodeBody(w, r, &req, `send {"to": N} (a history entry, 1 = newest) or {"to": "COMMIT"}, and "wait": true`) {
		return
	}
	s.runRequest(w, r, st, req.Wait, s.rollbackJob(req.To), SyncOptions{AllowNoop: req.AllowNoop, Caller: p.caller})
}

// runRequest runs a sync for a request on the app's lock, before the polls waiting for the
// pool, and answers: at apply (202) or, with wait, at the end. The server's write deadline is
// lifted while the sync runs.
func (s *Server) runRequest(w http.ResponseWriter, r *http.Request, st *appState, wait bool, run runFunc, opts SyncOptions) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	res, err := s.trigger(r.Context(), st, wait, run, opts)
	switch {
	case errors.Is(err, errNotLeader):
		s.unavailable(w, "this replica does not hold the app's shard (any more)")
		return
	case err != nil:
		return // the client left while an earlier sync of the app ran
	}
	_ = rc.SetWriteDeadline(time.Now().Add(s.opts.HTTP.WriteTimeout))
	s.writeResult(w, res)
}

// trigger runs a requested sync on the app's lock, after the app's running sync and before the
// polls waiting for the pool, and returns its result once applied (or earlier: refused,
// failed) or, with wait, at the end. It fails with errNotLeader when this replica does not
// hold the app's shard, and with ctx's error when ctx ends while an earlier sync of the app
// runs; once started, the sync runs to its end whatever ctx does.
func (s *Server) trigger(ctx context.Context, st *appState, wait bool, run runFunc, opts SyncOptions) (*Result, error) {
	applied := make(chan Result, 1)
	if !wait {
		opts.OnApplied = func(res Result) { applied <- res }
	}
	done, err := s.locked(ctx, st, true, true, func(ctx context.Context, state *State, sl *slot) *Result {
		opts.State = state
		opts.OnApplied = sl.onApplied(opts.OnApplied)
		return run(ctx, st.spec(), state, opts)
	})
	if err != nil {
		return nil, err
	}
	select {
	case a := <-applied:
		return &a, nil
	case res := <-done:
		return res, nil
	}
}

// handleUnpin ends the app's rollback pin and wakes its poll, which deploys the app's revision.
func (s *Server) handleUnpin(w http.ResponseWriter, r *http.Request, p *principal) {
	st := s.appFor(w, r, p)
	if st == nil || s.route(w, r, st, false) {
		return
	}
	uerr, err := s.unpin(r.Context(), st, p.caller)
	switch {
	case errors.Is(err, errNotLeader):
		s.unavailable(w, "this replica does not hold the app's shard (any more)")
	case err != nil:
		// the client left while a sync of the app ran
	case errors.Is(uerr, errdefs.ErrNoop):
		writeJSON(w, http.StatusConflict, api.Error{Error: uerr.Error(), Hint: errdefs.Hint(uerr)})
	case uerr != nil:
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: uerr.Error(), Hint: errdefs.Hint(uerr)})
	default:
		writeJSON(w, http.StatusOK, st.status())
	}
}

// unpin ends the app's rollback pin on its lock and wakes its poll, which deploys the app's
// revision. err is errNotLeader or ctx's error when it did not run; uerr is the unpin's own
// (ErrNotPinned, a cluster error).
func (s *Server) unpin(ctx context.Context, st *appState, caller *api.Caller) (uerr, err error) {
	done, err := s.locked(ctx, st, true, true, func(ctx context.Context, state *State, _ *slot) *Result {
		_, uerr = s.r.Unpin(ctx, st.name, caller, state)
		if fresh, err := s.r.State(ctx, st.name); err == nil {
			st.setState(fresh)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	<-done
	if uerr == nil {
		s.log.Info("unpinned", "app", st.name, "caller", caller.String())
		s.poke(st)
	}
	return uerr, nil
}

// decodeBody decodes a JSON body strictly (a misspelt "expectedImage" must not silently
// disable the check); an empty body is the zero value. It answers 400 itself.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, hint string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "decoding the request: " + err.Error(), Hint: hint})
		return false
	}
	return true
}

// writeResult maps the exit code of a sync to an HTTP status: 200 done, 202 applied (health
// pending), 409 no-op refused, 412 precondition, 422 bad input, 500 failure.
func (s *Server) writeResult(w http.ResponseWriter, res *Result) {
	code := map[int]int{0: http.StatusOK, 1: http.StatusInternalServerError, 2: http.StatusUnprocessableEntity,
		3: http.StatusConflict, 4: http.StatusPreconditionFailed}[res.ExitCode]
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if res.Status == api.StatusApplied {
		code = http.StatusAccepted
	}
	s.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	writeJSON(w, code, res)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
