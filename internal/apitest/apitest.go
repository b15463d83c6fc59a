// Package apitest is the plumbing the API fakes (fakegitlab, fakegithub) share: a request log
// for assertions, JSON replies and fixtures kept as documented JSON.
package apitest

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Request is one request a fake answered.
type Request struct {
	Method string
	Path   string // below the API root, escaped as sent
	Query  url.Values
	Header http.Header
	Body   string
}

// Log records the requests of a fake whose API root is prefix.
type Log struct {
	prefix string
	mu     sync.Mutex
	reqs   []Request
}

// NewLog returns a log of requests below prefix (/gitlab/api/v4).
func NewLog(prefix string) *Log { return &Log{prefix: prefix} }

// Wrap records each request (its body is read and replaced) before next answers it.
func (l *Log) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		l.mu.Lock()
		l.reqs = append(l.reqs, Request{Method: r.Method, Path: strings.TrimPrefix(r.URL.EscapedPath(), l.prefix),
			Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(body)})
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Requests returns the requests answered so far.
func (l *Log) Requests() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.reqs...)
}

// Reply writes v as the JSON body of a code response (no body for nil).
func Reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// Fixture returns a fresh copy of the JSON object in fsys/testdata/name. Fixtures are embedded,
// so a missing or broken one is a programming error.
func Fixture(fsys fs.FS, name string) map[string]any {
	b, err := fs.ReadFile(fsys, "testdata/"+name)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// Fault makes a fake answer the first Times requests that match Method and Path (a path.Match
// pattern below the API root, e.g. /repos/*/*/actions/runs/*) with Status and no effect, as a
// proxy in front of a forge does while it restarts (502) or sheds load (429, with RetryAfter).
type Fault struct {
	Method, Path string
	Status       int
	Times        int
	RetryAfter   string // the Retry-After header, "" for none
}

// Faults answers requests with the configured faults before next sees them.
type Faults struct {
	prefix string
	mu     sync.Mutex
	faults []Fault
}

// NewFaults returns the faults of a fake whose API root is prefix.
func NewFaults(prefix string, faults []Fault) *Faults {
	return &Faults{prefix: prefix, faults: append([]Fault(nil), faults...)}
}

// Wrap answers a request with the first fault that matches it and has times left.
func (f *Faults) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fault, ok := f.take(r); ok {
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			Reply(w, fault.Status, map[string]any{"message": http.StatusText(fault.Status)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *Faults) take(r *http.Request) (Fault, bool) {
	p := strings.TrimPrefix(r.URL.EscapedPath(), f.prefix)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		fault := &f.faults[i]
		if ok, _ := path.Match(fault.Path, p); ok && fault.Times > 0 && (fault.Method == "" || fault.Method == r.Method) {
			fault.Times--
			return *fault, true
		}
	}
	return Fault{}, false
}

// Serve starts h on 127.0.0.1 for the duration of the test and returns its URL. With tls it
// serves HTTPS with httptest's certificate, which no system trusts (a private CA), and returns
// the PEM file a client must trust.
func Serve(t testing.TB, h http.Handler, tls bool) (url, caFile string) {
	t.Helper()
	if !tls {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL, ""
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}
