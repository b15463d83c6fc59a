package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// maxRemoteFetches bounds the remote fetches of one render (a remote base that includes itself).
const maxRemoteFetches = 20

// remotes fetches what an app may fetch, and refuses the rest before any connection: a remote
// reference is checked against Limits.AllowedHosts when the file that holds it is read, before
// the renderer can act on it.
type remotes struct {
	run     *run
	fetched map[string]string // reference → local path it was fetched to
	bytes   int64             // fetched so far, bounded by Limits.MaxBytes
	configs map[string]bool   // absolute paths of plugin configurations a kustomization lists
}

func newRemotes(r *run) *remotes {
	return &remotes{run: r, fetched: map[string]string{}, configs: map[string]bool{}}
}

// scpLike is git's user@host:path form, which Kustomize clones over ssh.
var scpLike = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@[^/:]+:`)

// isRemote reports whether Kustomize would go to the network (or to the reconciler's own disk,
// for file://) for a reference: any URL with a scheme, git's scp form, and the github.com
// shorthand (the forms of kustomize's repospec.go, and http(s) files).
func isRemote(ref string) bool {
	s := strings.ToLower(strings.TrimSpace(ref))
	s = strings.TrimPrefix(s, "git::")
	return strings.Contains(s, "://") || scpLike.MatchString(s) ||
		strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:")
}

// allowedHost reports whether host (host or host:port) matches an entry of Limits.AllowedHosts:
// "host" matches any port, "host:port" that port, "*.example.com" any subdomain.
func (rm *remotes) allowedHost(host string) bool {
	host = strings.ToLower(host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, a := range rm.run.opts.Limits.AllowedHosts {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == host, a == name:
			return true
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(name, a[1:]):
			return true
		}
	}
	return false
}

// parseAllowed parses an http(s) reference and checks its host; the error says why it is refused.
func (rm *remotes) parseAllowed(ref string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimPrefix(strings.TrimSpace(ref), "git::"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("only http(s) remotes can be allowed; vendor it into the repository")
	}
	if u.User != nil {
		return nil, errors.New("credentials in a remote URL are refused")
	}
	if !rm.allowedHost(u.Host) {
		return nil, fmt.Errorf("host %s is not in the app's allowedHosts", u.Host)
	}
	return u, nil
}

// client returns the HTTP client of remote fetches: Options.HTTP, or one without proxy and
// cookies with connection timeouts; either way a redirect must stay on allowed hosts.
func (rm *remotes) client() *http.Client {
	c := &http.Client{Transport: &http.Transport{
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}}
	if rm.run.opts.HTTP != nil {
		cp := *rm.run.opts.HTTP
		c = &cp
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if !rm.allowedHost(req.URL.Host) {
			return fmt.Errorf("redirect to %s: host not in the app's allowedHosts", req.URL.Host)
		}
		return nil
	}
	return c
}

// fetchHTTP GETs u (its host allowed), reading at most what is left of the byte limit.
func (rm *remotes) fetchHTTP(ctx context.Context, u *url.URL) ([]byte, error) {
	if len(rm.fetched) >= maxRemoteFetches {
		return nil, fmt.Errorf("more than %d remote fetches", maxRemoteFetches)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := rm.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	left := rm.run.opts.Limits.MaxBytes - rm.bytes
	data, err := io.ReadAll(io.LimitReader(resp.Body, left+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if err := rm.count(u.Redacted(), int64(len(data))); err != nil {
		return nil, err
	}
	return data, nil
}

// count adds n fetched bytes.
func (rm *remotes) count(what string, n int64) error {
	rm.bytes += n
	if rm.bytes > rm.run.opts.Limits.MaxBytes {
		return &LimitError{Err: ErrTooLarge, File: what,
			Detail: fmt.Sprintf("remote content passes %s", byteSize(rm.run.opts.Limits.MaxBytes))}
	}
	return nil
}

// gitSpec is a remote Kustomize base on an http(s) git server.
type gitSpec struct {
	repo, dir, ref string
}

// parseGitSpec splits a Kustomize git reference the way Kustomize does: the repository ends at
// "_git/NAME", "//", or ".git"; otherwise after two path segments (org/repo). ?ref= (or
// ?version=) names the revision.
func parseGitSpec(u *url.URL) gitSpec {
	q := u.Query()
	ref := q.Get("ref")
	if ref == "" {
		ref = q.Get("version")
	}
	p := strings.TrimPrefix(u.Path, "/")
	repo, dir := p, ""
	switch {
	case strings.Contains(p, "_git/"):
		i := strings.Index(p, "_git/") + len("_git/")
		name, rest, _ := strings.Cut(p[i:], "/")
		repo, dir = p[:i]+name, rest
	case strings.Contains(p, "//"):
		repo, dir, _ = strings.Cut(p, "//")
	case strings.Contains(p, ".git"):
		i := strings.Index(p, ".git") + len(".git")
		repo, dir = p[:i], strings.TrimPrefix(p[i:], "/")
	default:
		if seg := strings.SplitN(p, "/", 3); len(seg) == 3 {
			repo, dir = seg[0]+"/"+seg[1], seg[2]
		}
	}
	return gitSpec{repo: u.Scheme + "://" + u.Host + "/" + repo, dir: path.Clean("/" + dir)[1:], ref: ref}
}

// isGitReference reports whether an http(s) resource is a git repository rather than a file:
// it has a revision query, a "//" or "_git/" separator, or a ".git" repository.
func isGitReference(u *url.URL) bool {
	q := u.Query()
	return q.Has("ref") || q.Has("version") || strings.Contains(strings.TrimPrefix(u.Path, "/"), "//") ||
		strings.Contains(u.Path, "_git/") || strings.Contains(u.Path, ".git")
}

// fetchGit clones spec with Options.Git and writes its files below /.tagrelay-remote in fs,
// returning the absolute directory of spec.dir.
func (rm *remotes) fetchGit(ctx context.Context, fs *guardedFS, spec gitSpec) (string, error) {
	if rm.run.opts.Git == nil {
		return "", errors.New("git remotes cannot be fetched here")
	}
	if len(rm.fetched) >= maxRemoteFetches {
		return "", fmt.Errorf("more than %d remote fetches", maxRemoteFetches)
	}
	files, err := rm.run.opts.Git(ctx, spec.repo, spec.ref)
	if err != nil {
		return "", err
	}
	root := "/.tagrelay-remote/" + shortHash(spec.repo+"@"+spec.ref)
	for name, data := range files {
		if err := rm.count(spec.repo, int64(len(data))); err != nil {
			return "", err
		}
		if err := fs.FileSystem.WriteFile(root+"/"+name, data); err != nil {
			return "", err
		}
	}
	dir := path.Join(root, spec.dir)
	if !fs.FileSystem.IsDir(dir) {
		return "", fmt.Errorf("%s has no directory %q at %q", spec.repo, spec.dir, spec.ref)
	}
	return dir, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
