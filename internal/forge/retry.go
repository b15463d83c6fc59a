package forge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Retry is how API calls are retried: on 429, on 5xx answers and on network errors, with
// exponential backoff and full jitter, honouring Retry-After and the rate limit reset headers.
// Requests that could have an effect twice (POST) are retried only when the forge cannot have
// acted on them: a 429, or a connection that was never made.
type Retry struct {
	// Attempts is the number of tries of one call, the first included. Default 4; 1 disables.
	Attempts int
	// Base is the first backoff; each retry doubles it, up to Max. Default 500 ms and 10 s.
	Base, Max time.Duration
	// MaxWait is the longest Retry-After (or rate limit reset) waited for; a longer one ends the
	// retries. Default 60 s.
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 10 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = time.Minute
	}
	return r
}

// retryTransport retries the requests of one API client.
type retryTransport struct {
	next http.RoundTripper
	r    Retry
	log  *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		wait, retry := t.decide(req, resp, err, attempt)
		if !retry {
			return resp, err
		}
		next, rerr := rewind(req)
		if rerr != nil {
			return resp, err
		}
		reason := ""
		if resp != nil {
			reason = resp.Status
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		} else {
			reason = err.Error()
		}
		t.log.Warn("retrying the forge's API", "method", req.Method, "path", req.URL.Path, "reason", reason, "attempt", attempt, "wait", wait.Round(time.Millisecond))
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		req = next
	}
}

// decide says whether (and after how long) a try is retried.
func (t *retryTransport) decide(req *http.Request, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	if attempt >= t.r.Attempts || req.Context().Err() != nil {
		return 0, false
	}
	backoff := min(t.r.Base<<min(attempt-1, 16), t.r.Max)
	backoff = backoff/4 + rand.N(backoff*3/4+1) // full jitter, as bump's push retries
	switch {
	case err != nil && untrusted(err):
		return 0, false // the same certificate next time
	case err != nil:
		return backoff, repeatable(req) || neverConnected(err)
	case resp.StatusCode == http.StatusTooManyRequests, rateLimited(resp):
		if d, ok := serverWait(resp); ok {
			return d, d <= t.r.MaxWait
		}
		return backoff, true
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		if d, ok := serverWait(resp); ok && d <= t.r.MaxWait {
			backoff = max(backoff, d)
		}
		return backoff, repeatable(req)
	}
	return 0, false
}

// repeatable reports whether sending req twice has the effect of sending it once. tagrelay's PUT
// and PATCH requests set fields to values (a merge request's title), so they are.
func repeatable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// neverConnected reports whether a request failed before reaching the server (a refused or
// unresolved connection), so the forge cannot have acted on it.
func neverConnected(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return (errors.As(err, &op) && op.Op == "dial") || (errors.As(err, &dns) && !dns.IsNotFound)
}

// untrusted reports a TLS verification failure: not transient.
func untrusted(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host)
}

// rateLimited reports a 403 that is GitHub's rate limit rather than a missing permission.
// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
func rateLimited(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-Ratelimit-Remaining") == "0")
}

// serverWait is how long the server asked to wait: Retry-After (seconds or a date), else the
// reset time of the rate limit (GitHub's X-RateLimit-Reset, GitLab's RateLimit-Reset).
func serverWait(resp *http.Response) (time.Duration, bool) {
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(time.Until(at), 0), true
		}
	}
	for _, h := range []string{"X-Ratelimit-Reset", "Ratelimit-Reset"} {
		if s, err := strconv.ParseInt(resp.Header.Get(h), 10, 64); err == nil && s > 0 {
			return max(time.Until(time.Unix(s, 0)), 0), true
		}
	}
	return 0, false
}

// rewind returns a copy of req to send again, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return next, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("request body cannot be read twice")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	next.Body = body
	return next, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
