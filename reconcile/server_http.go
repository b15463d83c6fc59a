package reconcile

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// HTTPOptions bound what one client can hold of the server. The defaults suit the API: small
// requests, answers that come at once except the sync answers, which lift the write deadline
// for as long as the sync runs (http.ResponseController), so `--wait` is never cut.
type HTTPOptions struct {
	// ReadHeaderTimeout bounds reading the request headers (a client that sends them byte by
	// byte is cut off). Default: 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request. Default: 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an answer. Default: 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections. Default: 2m.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers (a GitLab id_token is ~1 KiB). Default: 64 KiB.
	MaxHeaderBytes int
	// TLSCertFile and TLSKeyFile, when set, serve HTTPS; the files are read again when they
	// change (a renewed certificate is served without a restart).
	TLSCertFile, TLSKeyFile string
}

func (o *HTTPOptions) fill() {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
}

// HTTPServer returns an http.Server for h with the server's limits and, when configured, TLS
// (serve it with ServeTLS(ln, "", "")).
func (s *Server) HTTPServer(h http.Handler) (*http.Server, error) {
	return NewHTTPServer(h, s.opts.HTTP, s.log)
}

// NewHTTPServer returns an http.Server for h with the limits of opts (defaults filled) and,
// when opts names a certificate, a TLS config that reloads it (serve it with ServeTLS(ln, "",
// "")).
func NewHTTPServer(h http.Handler, opts HTTPOptions, log *slog.Logger) (*http.Server, error) {
	opts.fill()
	hs := &http.Server{Handler: h, ReadHeaderTimeout: opts.ReadHeaderTimeout, ReadTimeout: opts.ReadTimeout,
		WriteTimeout: opts.WriteTimeout, IdleTimeout: opts.IdleTimeout, MaxHeaderBytes: opts.MaxHeaderBytes}
	if log != nil {
		hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	}
	if opts.TLSCertFile == "" && opts.TLSKeyFile == "" {
		return hs, nil
	}
	certs, err := NewCertReloader(opts.TLSCertFile, opts.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	return hs, nil
}

// CertReloader serves a certificate from files and reads them again when they change (a
// cert-manager renewal, a Secret volume update), checking at most once a second.
type CertReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // size and mtime of both files when cert was read
	checked time.Time
}

// NewCertReloader reads the certificate and key once; an error then is the caller's.
func NewCertReloader(certFile, keyFile string) (*CertReloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errdefs.WithHint(errdefs.Invalid(errors.New("TLS needs a certificate and a key")), "pass both --tls-cert and --tls-key")
	}
	c := &CertReloader{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, errdefs.WithHint(errdefs.Invalid(err), "check --tls-cert and --tls-key (PEM)")
	}
	return c, nil
}

// GetCertificate implements tls.Config.GetCertificate. A certificate that fails to load after
// a change (a half-written file) keeps the previous one in service until the next check.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= time.Second {
		c.checked = time.Now()
		if stamp, err := c.stampOf(); err == nil && stamp != c.stamp {
			_ = c.reloadLocked()
		}
	}
	return c.cert, nil
}

func (c *CertReloader) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloadLocked()
}

func (c *CertReloader) reloadLocked() error {
	stamp, err := c.stampOf()
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("loading %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

// stampOf identifies the files' current content cheaply: size and modification time.
func (c *CertReloader) stampOf() (string, error) {
	var b bytes.Buffer
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}
