package forge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRetryDecision: which failures are tried again, for a request that can be repeated (GET) and
// one that cannot (POST).
func TestRetryDecision(t *testing.T) {
	t.Parallel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	answer := func(code int, h ...string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	tr := &retryTransport{r: Retry{}.withDefaults(), log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name      string
		resp      *http.Response
		err       error
		get, post bool
	}{
		{"refused connection", nil, dial, true, true},
		{"reset mid-request", nil, read, true, false},
		{"unresolved host", nil, &net.DNSError{Err: "no such host", IsNotFound: true}, true, false},
		{"untrusted certificate", nil, &url.Error{Op: "Get", URL: "https://x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false, false},
		{"429", answer(429), nil, true, true},
		{"429 asking for an hour", answer(429, "Retry-After", "3600"), nil, false, false},
		{"GitHub rate limit (403, remaining 0)", answer(403, "X-Ratelimit-Remaining", "0", "X-Ratelimit-Reset", "1"), nil, true, true},
		{"403 permission", answer(403), nil, false, false},
		{"502", answer(502), nil, true, false},
		{"501", answer(501), nil, false, false},
		{"404", answer(404), nil, false, false},
	} {
		for _, m := range []struct {
			method string
			want   bool
		}{{http.MethodGet, tc.get}, {http.MethodPost, tc.post}} {
			req, _ := http.NewRequestWithContext(context.Background(), m.method, "https://gitlab.example.com/api/v4/x", nil)
			if _, got := tr.decide(req, tc.resp, tc.err, 1); got != m.want {
				t.Errorf("%s %s: retry = %v, want %v", m.method, tc.name, got, m.want)
			}
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "https://gitlab.example.com/api/v4/x", nil)
	if _, again := tr.decide(req, answer(502), nil, tr.r.Attempts); again {
		t.Errorf("retried after the last attempt")
	}
	if wait, _ := tr.decide(req, answer(429, "Retry-After", "7"), nil, 1); wait != 7*time.Second {
		t.Errorf("Retry-After 7 waits %s", wait)
	}
}
