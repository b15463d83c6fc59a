// Package apitest is the plumbing the API fakes (fakegitlab, fakegithub) share: a request log
// for assertions, JSON replies and fixtures kept as documented JSON.
package apitest

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
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
