package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// maxBody bounds a sync request's body.
const maxBody = 64 << 10

// Handler returns the HTTP API (package api), a status page at /, /metrics, /healthz (alive) and
// /readyz (ready when leading, so a Service routes triggers to the leader only).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/apps/{name}/sync", s.authed(s.handleSync))
	mux.Handle("GET /api/v1/apps/{name}", s.authed(s.handleApp))
	mux.Handle("GET /api/v1/apps", s.authed(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.statuses())
	}))
	mux.HandleFunc("POST /api/v1/webhooks/gitlab", s.handleGitLab)
	mux.HandleFunc("POST /api/v1/webhooks/github", s.handleGitHub)
	mux.HandleFunc("GET /", s.handlePage)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.leader.Load() {
			http.Error(w, "not the leader", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r.Header.Get("Authorization")) {
			s.metrics.requests.WithLabelValues("401").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="tagrelay-reconciler"`)
			writeJSON(w, http.StatusUnauthorized, api.Error{Error: "missing or wrong bearer token",
				Hint: "send Authorization: Bearer TOKEN with the reconciler's API token"})
			return
		}
		h(w, r)
	})
}

func (s *Server) app(w http.ResponseWriter, r *http.Request) *appState {
	st := s.apps[r.PathValue("name")]
	if st == nil {
		writeJSON(w, http.StatusNotFound, api.Error{Error: fmt.Sprintf("no app %q", r.PathValue("name")),
			Hint: "GET /api/v1/apps lists the apps"})
	}
	return st
}

func (s *Server) handleApp(w http.ResponseWriter, r *http.Request) {
	if st := s.app(w, r); st != nil {
		writeJSON(w, http.StatusOK, st.status())
	}
}

// handleSync runs a triggered sync: the no-op guard is on. Without wait it answers 202 once
// the app is applied (or earlier with the refusal or failure); with wait, when healthy or not.
func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	st := s.app(w, r)
	if st == nil {
		return
	}
	if !s.leader.Load() {
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "this replica is not the leader", Hint: "retry; the Service routes to the leader"})
		return
	}
	var req api.SyncRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields() // a misspelt "expectedImage" must not silently disable the check
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, http.StatusBadRequest, api.Error{Error: "decoding the sync request: " + err.Error(),
			Hint: `send {"expectImage": "NAME:TAG", "allowNoop": false, "restart": false, "wait": true}`})
		return
	}
	opts := SyncOptions{Trigger: TriggerAPI, Guard: true, ExpectImage: req.ExpectImage, AllowNoop: req.AllowNoop, Restart: req.Restart}
	var applied chan Result
	if !req.Wait {
		applied = make(chan Result, 1)
	}
	done, ok := s.trigger(r.Context(), st, opts, applied)
	if !ok {
		return // the client left while an earlier sync of the app ran
	}
	var res *Result
	select {
	case a := <-applied:
		res = &a
	case res = <-done:
	}
	s.writeResult(w, res)
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
