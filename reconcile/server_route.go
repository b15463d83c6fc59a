package reconcile

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Every replica answers the API; only the leader syncs. A follower forwards what only the
// leader can answer (writes, webhooks, and reads while a leader is known, since it knows what
// runs) to the leader's URL from the Lease, after checking the caller itself. A request a
// follower forwarded is never forwarded again: a replica that got one and does not lead (any
// more) answers 503 with Retry-After, which the api client retries.

// route forwards r to the leader when this replica does not lead, and reports whether it
// answered. A read (local) is answered here when no leader is known.
func (s *Server) route(w http.ResponseWriter, r *http.Request, local bool) bool {
	if s.leading.Load() {
		return false
	}
	l := s.leader.Load()
	switch {
	case r.Header.Get(api.ForwardedHeader) != "":
		s.unavailable(w, "this replica does not lead (any more)")
	case l == nil || l.url == "" || l.identity == s.Identity():
		if local {
			return false
		}
		s.unavailable(w, errNotLeader.Error())
	default:
		s.forward(w, r, l)
	}
	return true
}

// forward proxies r to the leader. The long answer of a sync that waits is not cut by the
// server's WriteTimeout: the deadlines are lifted while the leader works and set again when
// its answer comes.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, l *leaderRef) {
	target, err := url.Parse(l.url)
	if err != nil {
		s.unavailable(w, "the leader's URL in the Lease is invalid")
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
				// Nothing reached the leader: safe to retry (it may be gone; a follower takes over).
				s.unavailable(w, "the leader "+l.identity+" does not answer")
				return
			}
			writeJSON(w, http.StatusBadGateway, api.Error{Error: "forwarding to the leader " + l.identity + ": " + err.Error(),
				Hint: "the leader may have stopped mid-request: its successor runs again a sync it left in flight; check the app's status"})
		},
	}
	proxy.ServeHTTP(w, r)
}

// unavailable answers 503 with Retry-After: nothing was done, try again shortly.
func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	s.metrics.requests.WithLabelValues("503").Inc()
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: msg,
		Hint: "retry: a replica takes over the lead within the lease duration (the api client retries by itself)"})
}
