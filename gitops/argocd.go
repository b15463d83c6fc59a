package gitops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/redact"
)

// ArgoCD drives applications of one Argo CD server through its REST API (the grpc-gateway half of
// argocd-server; no gRPC-web), with a bearer token: a session token, an account's API token or a
// project role's token.
type ArgoCD struct {
	server string // https://argocd.example, no trailing slash
	token  string
	http   *http.Client
	opts   options
	log    *slog.Logger
}

// NewArgoCD returns a client of the Argo CD server at server (https://argocd.example; http only
// for a server run with --insecure). The token is sent as a bearer token and never logged.
func NewArgoCD(server, token string, opts ...Option) (*ArgoCD, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errdefs.Invalid(fmt.Errorf("invalid Argo CD server URL %q: want https://HOST[:PORT]", redact.URL(server)))
	}
	if u.User != nil {
		return nil, errdefs.Invalid(fmt.Errorf("the Argo CD server URL %s carries credentials: pass the token instead", redact.URL(server)))
	}
	if strings.TrimSpace(token) == "" {
		return nil, errdefs.Invalid(errors.New("no Argo CD token"))
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	c, err := o.httpClient()
	if err != nil {
		return nil, err
	}
	return &ArgoCD{server: strings.TrimRight(u.String(), "/"), token: strings.TrimSpace(token), http: c, opts: o, log: o.logger}, nil
}

// APIError is an answer of Argo CD other than 2xx.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the gRPC code Argo CD gave (16 Unauthenticated, 7 PermissionDenied, …), 0 if none.
	Code int
	// Message is Argo CD's message.
	Message string
	// Request is "METHOD /path" without the query.
	Request string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("argocd: %s: %d %s: %s", e.Request, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap gives the answer its class (statusClass).
func (e *APIError) Unwrap() error { return statusClass(e.StatusCode) }

// statusClass is the class of an HTTP answer of Argo CD or the API server: 401/403
// ErrUnauthorized, 404 ErrNotFound, 5xx unavailable, else none.
func statusClass(code int) error {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ErrUnauthorized
	case code == http.StatusNotFound:
		return ErrNotFound
	case code >= 500:
		return errdefs.ErrUnavailable
	}
	return nil
}

// get, post: one REST call, retried on network errors and 5xx (see retryable).
func (a *ArgoCD) get(ctx context.Context, path string, q url.Values, out any) error {
	return a.call(ctx, http.MethodGet, path, q, nil, out)
}

func (a *ArgoCD) post(ctx context.Context, path string, q url.Values, in, out any) error {
	return a.call(ctx, http.MethodPost, path, q, in, out)
}

func (a *ArgoCD) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	delay := a.opts.backoff
	for attempt := 0; ; attempt++ {
		err := a.once(ctx, method, path, q, body, out)
		if err == nil || attempt >= a.opts.retries || !retryable(method, err) || ctx.Err() != nil {
			return err
		}
		a.log.Warn("argocd request failed, retrying", "request", method+" "+path, "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// retryable: reads on any network error or 5xx; writes only when the request surely did not
// reach Argo CD (connection refused) or a proxy said the server is away (502/503/504), so a sync
// is not requested twice behind a server error.
func retryable(method string, err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		if method == http.MethodGet {
			return ae.StatusCode >= 500
		}
		return ae.StatusCode == http.StatusBadGateway || ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusGatewayTimeout
	}
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return false // no retry makes a certificate trusted
	}
	if method == http.MethodGet {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (a *ArgoCD) once(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	resp, err := a.do(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	what := "argocd: " + method + " " + path
	b, err := readBody(resp.Body, what)
	if err != nil {
		return err
	}
	return decodeJSON(b, what, out)
}

// do sends one request and returns a 2xx response, or the answer as an *APIError.
func (a *ArgoCD) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	// Without a content type argocd-server answers "Invalid content type".
	req, err := newJSONRequest(ctx, method, a.server, path, q, body, "application/json")
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	// argocd-server gzips answers unless the client asks for event streams; a compressed watch
	// stream may sit in a buffer, so ask for none.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("argocd: %s %s: %w", method, path, scrub(err, a.token))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := &APIError{StatusCode: resp.StatusCode, Request: method + " " + path}
	var e apiError
	if json.Unmarshal(b, &e) == nil && (e.Message != "" || e.Error != "") {
		ae.Code, ae.Message = e.Code, e.Message
		if ae.Message == "" {
			ae.Message = e.Error
		}
	} else {
		ae.Message = strings.TrimSpace(string(b))
	}
	if len(ae.Message) > 500 {
		ae.Message = strings.ToValidUTF8(ae.Message[:500], "") + "…"
	}
	// A server (or a proxy) that echoes the request must not make the token part of an error.
	ae.Message = strings.ReplaceAll(ae.Message, a.token, "[REDACTED]")
	return nil, ae
}

// scrub removes the token from a transport error, should a proxy or a URL ever echo it.
func scrub(err error, token string) error {
	if !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(redact.New(token).String(err.Error()))
}

// appQuery returns the query naming an application's namespace, when set.
func appQuery(ns string) url.Values {
	q := url.Values{}
	if ns != "" {
		q.Set("appNamespace", ns)
	}
	return q
}

func appPath(name string) string { return "/api/v1/applications/" + url.PathEscape(name) }
