package regtest

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

type options struct {
	creds         map[string]string
	tls           bool
	refuseMounts  bool
	middleware    func(http.Handler) http.Handler
	caForUpstream *CA
}

// Option configures a Server.
type Option func(*options)

// WithBasicAuth requires HTTP basic auth and accepts user/password (any bytes, "robot$p+ci"
// included). It may be given several times. Default: anonymous access. For a proxied registry
// (StartDistribution) the registry itself checks the credentials.
func WithBasicAuth(user, password string) Option {
	return func(o *options) { o.creds[user] = password }
}

// WithTLS serves HTTPS with a certificate of a new CA; Server.CA.CertFile is what clients
// trust. Default: plain HTTP.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithRefusedMounts answers every cross-repository mount (POST …/blobs/uploads/?mount=&from=)
// with 401 UNAUTHORIZED, as Harbor does when the token's scope does not cover the source
// (go-containerregistry #1393, harbor #17097). Default: mounts work.
func WithRefusedMounts() Option { return func(o *options) { o.refuseMounts = true } }

// WithMiddleware wraps the registry, for fault injection (5xx, 429, delays). It sees requests
// after authentication. Default: none.
func WithMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(o *options) { o.middleware = mw }
}

// Server is a running registry with its recording front.
type Server struct {
	// Host is host:port, the registry part of image references: 127.0.0.1:PORT.
	Host string
	// URL is the base URL, http://… or https://….
	URL string
	// CA is the certificate authority of a TLS server, nil for HTTP.
	CA *CA

	opts     options
	http     *http.Server
	listener net.Listener
	cleanup  []func()

	mu       sync.Mutex
	idle     *sync.Cond // broadcast when inflight drops to 0
	inflight int
	requests []Request
}

// Start starts an in-process registry (go-containerregistry's pkg/registry). Close it when done.
func Start(opts ...Option) (*Server, error) {
	o := options{creds: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	blobs := newRepoBlobs()
	reg := ggcrregistry.New(
		ggcrregistry.Logger(log.New(io.Discard, "", 0)),
		ggcrregistry.WithBlobHandler(blobs),
	)
	return start(o, blobs.mountHandler(reg))
}

func start(o options, h http.Handler) (*Server, error) {
	s := &Server{opts: o}
	if o.middleware != nil {
		h = o.middleware(h)
	}
	if o.refuseMounts {
		h = refuseMounts(h)
	}
	if len(o.creds) > 0 {
		h = s.authenticated(h)
	}
	var err error
	if s.listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Host = s.listener.Addr().String()
	s.URL = "http://" + s.Host
	if o.tls {
		if err := s.serveTLS(o); err != nil {
			s.listener.Close()
			return nil, err
		}
	}
	s.http = &http.Server{Handler: s.recorded(h), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go s.http.Serve(s.listener) //nolint:errcheck // ErrServerClosed on Close
	return s, nil
}

func (s *Server) serveTLS(o options) error {
	ca := o.caForUpstream
	if ca == nil {
		dir, err := os.MkdirTemp("", "regtest-ca-")
		if err != nil {
			return err
		}
		s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
		if ca, err = NewCA(dir); err != nil {
			return err
		}
	}
	s.CA = ca
	s.URL = "https://" + s.Host
	s.listener = tls.NewListener(s.listener, &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12})
	return nil
}

// Close stops the server (and a registry process behind it).
func (s *Server) Close() error {
	err := s.http.Close()
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
	return err
}

// authenticated checks HTTP basic auth, answering 401 with a Basic challenge like distribution.
func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		want, known := s.opts.creds[user]
		if !ok || !known || subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseMounts answers a cross-repository mount with 401, as Harbor does.
func refuseMounts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := uploadRepo(r); ok && r.URL.Query().Get("from") != "" {
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized to access repository: "+r.URL.Query().Get("from")+", action: pull")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}

// proxy forwards to a registry process, keeping the Host header so that the Location headers
// it writes point back through the front.
func proxy(target *url.URL, tlsCfg *tls.Config) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
}

var errNoBinary = errors.New("not installed")
