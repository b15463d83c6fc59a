// Package gittest runs a real smart-HTTP git server on 127.0.0.1 for tests and for `make demo`:
// git's own http-backend behind net/http/cgi, with HTTP basic auth, a request log (method, service,
// bytes in and out) and plumbing helpers to seed and inspect the bare repositories it serves.
//
// Nothing is mocked: clients talk the real protocol (v0/v1/v2, shallow, push options) to the real
// receive-pack and upload-pack, so races, rejections and pack sizes are those of a real server.
package gittest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one HTTP request the server answered.
type Request struct {
	Method   string
	Repo     string // repository path relative to the root, e.g. "group/infra.git"
	Service  string // "git-upload-pack", "git-receive-pack" or "" for other requests
	Status   int
	User     string // basic-auth user name, "" when anonymous
	BytesIn  int64  // request body size as received (compressed if the client gzipped it)
	BytesOut int64
	Time     time.Time
}

type options struct {
	creds      map[string]string
	middleware func(http.Handler) http.Handler
	root       string
	addr       string
	tls        *tls.Certificate
}

// Option configures a Server.
type Option func(*options)

// WithBasicAuth requires HTTP basic auth for every request and accepts user/password. It may be
// given several times to accept several credentials. Default: no auth.
func WithBasicAuth(user, password string) Option {
	return func(o *options) { o.creds[user] = password }
}

// WithMiddleware wraps the git handler, for fault injection (delays, 5xx, GitLab-style errors).
// It sees requests after authentication. Default: none.
func WithMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(o *options) { o.middleware = mw }
}

// WithRoot serves the bare repositories under dir instead of a new temporary directory.
func WithRoot(dir string) Option { return func(o *options) { o.root = dir } }

// WithTLS serves HTTPS with cert (e.g. regtest.NewCA's Server); URL then starts with https://.
func WithTLS(cert tls.Certificate) Option { return func(o *options) { o.tls = &cert } }

// WithAddr listens on addr (host:port) instead of a random port on 127.0.0.1.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// Server is a running smart-HTTP git server.
type Server struct {
	// URL is the base URL, without credentials: http://127.0.0.1:PORT
	URL string
	// Root is the directory holding the bare repositories.
	Root string

	opts     options
	http     *http.Server
	listener net.Listener
	ownRoot  bool

	mu       sync.Mutex
	requests []Request
}

// Start starts a server. Close it when done.
func Start(opts ...Option) (*Server, error) {
	o := options{creds: map[string]string{}, addr: "127.0.0.1:0"}
	for _, opt := range opts {
		opt(&o)
	}
	backend, err := httpBackend()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, Root: o.root}
	if s.Root == "" {
		if s.Root, err = os.MkdirTemp("", "gittest-"); err != nil {
			return nil, err
		}
		s.ownRoot = true
	}
	var h http.Handler = &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_HTTP_MAX_REQUEST_BUFFER=1000M",
		},
		Stderr: io.Discard,
	}
	h = spooled(h)
	if o.middleware != nil {
		h = o.middleware(h)
	}
	if s.listener, err = net.Listen("tcp", o.addr); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	s.URL = "http://" + s.listener.Addr().String()
	if o.tls != nil {
		s.listener = tls.NewListener(s.listener, &tls.Config{Certificates: []tls.Certificate{*o.tls}, MinVersion: tls.VersionTLS12})
		s.URL = "https://" + s.listener.Addr().String()
	}
	s.http = &http.Server{Handler: s.logged(s.authenticated(h)), ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(s.listener) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// httpBackend finds git-http-backend next to the git binary on PATH.
func httpBackend() (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", errors.New("gittest: the git CLI is required (apt-get install git)")
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("gittest: running git --exec-path: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("gittest: git-http-backend not found: %w", err)
	}
	return p, nil
}

// Close stops the server and removes a temporary root.
func (s *Server) Close() error {
	err := s.http.Close()
	if s.ownRoot {
		os.RemoveAll(s.Root)
	}
	return err
}

// RepoURL returns the clone URL of a repository, without credentials.
func (s *Server) RepoURL(name string) string {
	return s.URL + "/" + repoPath(name)
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// ReceivedBytes sums the request bodies of the receive-pack POSTs to repo: the size of what
// clients pushed, packs and ref updates.
func (s *Server) ReceivedBytes(repo string) int64 {
	var n int64
	for _, r := range s.Requests() {
		if r.Repo == repoPath(repo) && r.Service == "git-receive-pack" && r.Method == http.MethodPost {
			n += r.BytesIn
		}
	}
	return n
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	if len(s.opts.creds) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if want, known := s.opts.creds[user]; !ok || !known || want != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		// http-backend enables receive-pack for authenticated users.
		r.Header.Set("X-Remote-User", user)
		next.ServeHTTP(w, r)
	})
}

// spooled buffers chunked request bodies in a temporary file and gives them a Content-Length:
// CGI (net/http/cgi) rejects chunked bodies with 400, and git sends every push larger than
// http.postBuffer (1 MiB) chunked, as real git servers accept.
func spooled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		f, err := os.CreateTemp("", "gittest-body-")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, r.Body)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body, r.ContentLength, r.TransferEncoding = f, n, nil
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		next.ServeHTTP(w, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := &countingBody{ReadCloser: r.Body}
		r.Body = body
		cw := &countingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		repo, service := splitGitPath(r)
		user, _, _ := r.BasicAuth()
		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Repo: repo, Service: service, Status: cw.status, User: user,
			BytesIn: body.n, BytesOut: cw.n, Time: time.Now(),
		})
		s.mu.Unlock()
	})
}

// splitGitPath returns the repository and service of a smart-HTTP request:
// /REPO/info/refs?service=S and /REPO/S.
func splitGitPath(r *http.Request) (repo, service string) {
	p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	switch {
	case strings.HasSuffix(p, "/info/refs"):
		return strings.TrimSuffix(p, "/info/refs"), r.URL.Query().Get("service")
	case strings.HasSuffix(p, "/git-upload-pack"):
		return strings.TrimSuffix(p, "/git-upload-pack"), "git-upload-pack"
	case strings.HasSuffix(p, "/git-receive-pack"):
		return strings.TrimSuffix(p, "/git-receive-pack"), "git-receive-pack"
	}
	return p, ""
}

// repoPath normalises a repository name to its path under the root, with a .git suffix.
func repoPath(name string) string {
	name = strings.Trim(name, "/")
	if !strings.HasSuffix(name, ".git") {
		name += ".git"
	}
	return name
}
