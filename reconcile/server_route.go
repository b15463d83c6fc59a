package reconcile

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Every replica answers the API. What only the holder of an app's shard can do — syncs,
// rollbacks, unpins, webhooks, and the status of one app (it knows what runs) — a replica that
// does not hold the shard forwards to its holder's URL from the shard's Lease, after checking the
// caller itself. Lists and pages are answered by any replica from the state summaries every
// replica keeps (server_state.go). A forwarded request is never forwarded again: a replica that
// got one and does not hold the shard (any more) answers 503 with Retry-After, which the api
// client retries.

// route forwards r to the holder of the shard of st when this replica does not hold it, and
// reports whether it answered. A read (local) is answered here when no holder is known.
func (s *Server) route(w http.ResponseWriter, r *http.Request, st *appState, local bool) bool {
	return s.routeShard(w, r, s.shardFor(st), local)
}

func (s *Server) routeShard(w http.ResponseWriter, r *http.Request, sh *shard, local bool) bool {
	if sh.held() {
		return false
	}
	o := s.owner(sh)
	switch {
	case r.Header.Get(api.ForwardedHeader) != "":
		s.unavailable(w, "this replica does not hold the app's shard (any more)")
	case o == nil || o.url == "" || o.identity == s.Identity():
		if local {
			return false
		}
		s.unavailable(w, errNotLeader.Error())
	default:
		s.forward(w, r, o)
	}
	return true
}

// forward proxies r to the holder. The long answer of a sync that waits is not cut by the
// server's WriteTimeout: the deadlines are lifted while the holder works and set again when
// its answer comes.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, l *leaderRef) {
	target, err := url.Parse(l.url)
	if err != nil {
		s.unavailable(w, "the holder's URL in the Lease is invalid")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	s.metrics.forwarded.Inc()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(api.ForwardedHeader, s.Identity())
			pr.Out.Host = target.Host
		},
		Transport: s.opts.PeerTransport,
		ModifyResponse: func(*http.Response) error {
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.HTTP.WriteTimeout))
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				// Nothing reached the holder: safe to retry (it may be gone; another takes over).
				s.unavailable(w, "the holder "+l.identity+" of the app's shard does not answer")
				return
			}
			var cert *tls.CertificateVerificationError
			if errors.As(err, &cert) {
				// Nothing was sent (the token neither) and a retry would meet the same certificate:
				// a 502, not a 503 the api client retries. Every forwarded write fails alike, so
				// the operator reads it here too.
				s.log.Warn("refusing the certificate of the holder of an app's shard", "holder", l.identity, "url", l.url, "error", err)
				writeJSON(w, http.StatusBadGateway, api.Error{Error: "forwarding to " + l.identity + " at " + l.url + ": " + err.Error(),
					Hint: "nothing was sent to it: the replicas' certificates must be signed by the CA they trust for each other (serve --peer-ca-file) and name the address or DNS name they are reached at"})
				return
			}
			writeJSON(w, http.StatusBadGateway, api.Error{Error: "forwarding to " + l.identity + ": " + err.Error(),
				Hint: "the holder may have stopped mid-request: its successor runs again a sync it left in flight; check the app's status"})
		},
	}
	proxy.ServeHTTP(w, r)
}

// unavailable answers 503 with Retry-After: nothing was done, try again shortly.
func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	s.metrics.requests.WithLabelValues("503").Inc()
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: msg,
		Hint: "retry: a replica takes the shard over within the lease duration (the api client retries by itself)"})
}
