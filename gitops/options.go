package gitops

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

type options struct {
	logger   *slog.Logger
	client   *http.Client
	caFile   string
	insecure bool
	retries  int
	backoff  time.Duration
	resync   time.Duration
	poll     time.Duration
}

// Option configures an ArgoCD or Flux client.
type Option func(*options) error

// WithLogger logs progress (state changes while waiting) and retries. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithHTTPClient sends Argo CD's requests through c (its transport, its proxy settings). Its
// Timeout must be zero: the watch streams stay open for the whole wait. Default: a client with
// http.DefaultTransport's settings. Conflicts with WithCAFile and WithInsecureSkipVerify.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error { o.client = c; return nil }
}

// WithCAFile trusts the PEM certificates of file, besides the system's, for an https Argo CD
// server with a private CA. Default: system roots only.
func WithCAFile(file string) Option {
	return func(o *options) error { o.caFile = file; return nil }
}

// WithInsecureSkipVerify skips the verification of Argo CD's TLS certificate. Default: verify.
func WithInsecureSkipVerify() Option {
	return func(o *options) error { o.insecure = true; return nil }
}

// WithRetries retries an Argo CD request that met a network error or a 502/503/504 (any 5xx for
// reads) up to n times, with exponential backoff from 500 ms. Default: 4.
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return errdefs.Invalid(fmt.Errorf("retries %d: must be ≥ 0", n))
		}
		o.retries = n
		return nil
	}
}

// WithResync re-reads the state every d while waiting, in case a watch stream stalls silently
// (a proxy that buffers). Default: 15 s.
func WithResync(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errdefs.Invalid(fmt.Errorf("resync interval %s: must be positive", d))
		}
		o.resync = d
		return nil
	}
}

// WithPollInterval reads Flux's objects, workloads and pods every d while waiting. Default: 1 s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errdefs.Invalid(fmt.Errorf("poll interval %s: must be positive", d))
		}
		o.poll = d
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{logger: slog.New(slog.DiscardHandler), retries: 4, backoff: 500 * time.Millisecond, resync: 15 * time.Second, poll: time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.client != nil && (o.caFile != "" || o.insecure) {
		return o, errdefs.Invalid(errors.New("WithHTTPClient conflicts with WithCAFile and WithInsecureSkipVerify: configure the client's transport"))
	}
	return o, nil
}

// httpClient returns the configured client, or one built from the TLS options.
func (o options) httpClient() (*http.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure} //nolint:gosec // asked for, and the CLI warns
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("reading CA file: %w", err))
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errdefs.Invalid(fmt.Errorf("no PEM certificate in CA file %s", o.caFile))
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}
