// Package redact keeps secrets out of everything tagrelay prints: logs, errors, results and the
// URLs quoted in them.
//
// A Redactor is told the secret values of one run (tokens, passwords, read from env vars or files)
// and replaces every occurrence, raw or URL-escaped, with "***". URL strips the password of a URL's
// user info and the values of query parameters that carry credentials.
package redact

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "***"

// minLen is the shortest value treated as a secret: masking every "a" or "12" would make output
// unreadable while protecting nothing (real tokens and passwords are longer).
const minLen = 4

// Redactor replaces known secret values. The zero value is ready to use; it is safe for concurrent
// use.
type Redactor struct {
	mu       sync.RWMutex
	replacer *strings.Replacer
	secrets  map[string]bool
}

// New returns a Redactor that knows secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers secret values. Empty and very short values are ignored; surrounding whitespace
// (a trailing newline in a password file) is trimmed. The URL-escaped forms are registered too,
// so "robot$ci" is also masked where it appears as "robot%24ci".
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secrets == nil {
		r.secrets = map[string]bool{}
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < minLen {
			continue
		}
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), escape(s, ""), escape(s, "+")} {
			if len(v) >= minLen {
				r.secrets[v] = true
			}
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	keys := make([]string, 0, len(r.secrets))
	for k := range r.secrets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// String returns s with every known secret masked.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}

// escape percent-encodes every byte that is not unreserved (RFC 3986 §2.3) and not in keep, the
// strictest form a client may put a credential in a URL in.
func escape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~"+keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Writer returns a writer that masks known secrets in each Write before passing it on. Secrets
// split across two writes are not seen; slog handlers and fmt.Fprint* write whole records.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &writer{r: r, w: w}
}

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// credentialParams are query parameters that carry credentials in the APIs tagrelay talks to
// (GitLab private_token and trigger tokens, OAuth access tokens, presigned registry redirects).
var credentialParams = map[string]bool{
	"private_token": true, "access_token": true, "token": true, "job_token": true,
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
	"signature": true, "sig": true, "password": true, "client_secret": true,
}

// URL returns s with the password of its user info and the values of credential query
// parameters masked. A string that is not a URL with a scheme is returned unchanged.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
			changed = true
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if credentialParams[strings.ToLower(k)] {
				q.Set(k, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return s
	}
	// url.URL escapes the mask; keep it readable.
	return strings.NewReplacer("%2A%2A%2A", Mask, "%2a%2a%2a", Mask).Replace(u.String())
}
