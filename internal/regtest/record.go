package regtest

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Request is one HTTP request the registry answered.
type Request struct {
	Method  string
	Path    string
	Query   string
	Status  int
	User    string // basic-auth user name, "" when anonymous
	BytesIn int64  // request body bytes received
}

// BlobUpload reports whether r completed a blob upload (the final PUT …/blobs/uploads/…?digest=,
// or a monolithic POST …?digest=).
func (r Request) BlobUpload() bool {
	return strings.Contains(r.Path, "/blobs/uploads/") && strings.Contains(r.Query, "digest=") &&
		(r.Method == http.MethodPut || r.Method == http.MethodPost) && r.Status == http.StatusCreated
}

// MountAttempt reports whether r asked to mount a blob from another repository.
func (r Request) MountAttempt() bool {
	return r.Method == http.MethodPost && strings.Contains(r.Query, "mount=") && strings.Contains(r.Query, "from=")
}

// ManifestPut reports whether r wrote a manifest.
func (r Request) ManifestPut() bool {
	return r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/")
}

// Requests returns the requests answered so far, in order. It first waits for the handlers
// still running: a client may have read a whole response before its handler returned.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	return append([]Request(nil), s.requests...)
}

// Reset forgets the recorded requests, once the handlers still running have returned.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	s.requests = nil
}

// settle waits, with s.mu held, until no handler is running.
func (s *Server) settle() {
	if s.idle == nil {
		s.idle = sync.NewCond(&s.mu)
	}
	for s.inflight > 0 {
		s.idle.Wait()
	}
}

// Count returns how many recorded requests match.
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// BytesIn returns the request body bytes received so far.
func (s *Server) BytesIn() int64 {
	var n int64
	for _, r := range s.Requests() {
		n += r.BytesIn
	}
	return n
}

func (s *Server) recorded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.inflight++
		s.mu.Unlock()
		user, _, _ := r.BasicAuth()
		body := &countingReader{r: r.Body}
		r.Body = body
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		// Deferred: a proxied registry's handler panics with http.ErrAbortHandler when the
		// client goes away mid-response, and the request must still be counted out.
		defer func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests = append(s.requests, Request{
				Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status, User: user,
				BytesIn: body.n.Load(),
			})
			s.inflight--
			if s.inflight == 0 && s.idle != nil {
				s.idle.Broadcast()
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type recorder struct {
	http.ResponseWriter
	status  int
	written bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.written = true
	return r.ResponseWriter.Write(p)
}

// Flush lets a proxied registry stream.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
