package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/net/http/httpproxy"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// LFSResult is what a sync did with the Git LFS objects of the commits it mirrored.
type LFSResult struct {
	// Objects is how many distinct LFS objects the scanned commits name.
	Objects int `json:"objects"`
	// Present were already on the destination's LFS server.
	Present int `json:"present"`
	// Missing were not; a sync copies them (a dry run only counts them).
	Missing int `json:"missing"`
	// Copied were copied, Bytes their total size.
	Copied int   `json:"copied"`
	Bytes  int64 `json:"bytes"`
}

// The LFS batch API, as git-lfs and every forge speak it.
// https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md
const (
	lfsMediaType = "application/vnd.git-lfs+json"
	// lfsBatchSize is how many objects one batch request names (git-lfs's own default).
	lfsBatchSize = 100
	// lfsTransfers is how many objects are copied at once.
	lfsTransfers = 4
	// lfsAttempts bounds the tries of one request on a network error, 429 or 5xx.
	lfsAttempts = 3
	// lfsMaxJSON bounds a batch response (100 objects with their links are ~100 kB).
	lfsMaxJSON = 16 << 20
)

type lfsBatchRequest struct {
	Operation string         `json:"operation"`
	Transfers []string       `json:"transfers"`
	Objects   []lfsObjectRef `json:"objects"`
	HashAlgo  string         `json:"hash_algo"`
}

type lfsObjectRef struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

type lfsBatchResponse struct {
	Transfer string           `json:"transfer"`
	Objects  []lfsBatchObject `json:"objects"`
}

type lfsBatchObject struct {
	OID     string              `json:"oid"`
	Size    int64               `json:"size"`
	Actions map[string]*lfsLink `json:"actions"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type lfsLink struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

// lfsSide is one side's LFS server: its batch endpoint and the credentials of its git remote.
type lfsSide struct {
	name     string // "source" or "destination"
	endpoint string // https://host/group/repo.git/info/lfs
	creds    gitauth.Credentials
}

// lfsEndpoint is the LFS server git-lfs derives from a remote URL: <url>.git/info/lfs.
func lfsEndpoint(repoURL string) string {
	u := strings.TrimRight(repoURL, "/")
	if !strings.HasSuffix(u, ".git") {
		u += ".git"
	}
	return u + "/info/lfs"
}

// syncLFS finds the LFS pointers of the commits this sync will push and, with o.LFS, copies the
// objects the destination lacks; without o.LFS, pointers are refused (ErrLFSPointers). It reports
// whether anything was copied (for a dry run: would be).
//
// Without o.LFS the scan covers the commits the destination lacks: a pointer already there is
// not this sync's doing. With o.LFS it covers every commit in scope whose LFS objects are not
// known to be on the destination (state: per ref, the last commit checked), so the first LFS
// sync after plain ones checks the whole history once, and later ones only the new commits.
func (s *syncer) syncLFS(ctx context.Context, p *plan, pending []Change, dst map[string]plumbing.Hash, st *state, res *Result) (bool, error) {
	d := st.dest(s.dst.URL)
	tips := map[string]string{} // ref → commit to scan
	var exclude []string
	// Commits known to be in the cache: what the source's refs point at (fetched) and the old
	// value of a fast-forward (an ancestor of a fetched commit).
	known := map[string]bool{}
	for _, c := range p.changes {
		if c.New != "" {
			known[c.New] = true
		}
		if c.Action == ActionUpdate {
			known[c.Old] = true
		}
	}
	if !s.o.LFS {
		for _, c := range pending {
			if c.Action != ActionDelete {
				tips[c.Ref] = c.New
			}
		}
		for _, h := range dst {
			exclude = append(exclude, h.String())
		}
	} else {
		for _, c := range p.changes {
			switch c.Action {
			case ActionCreate, ActionUpdate, ActionForce, ActionUnchanged:
				if d.LFS[c.Ref] != c.New {
					tips[c.Ref] = c.New
				}
			}
		}
		exclude = slices.Collect(maps.Values(d.LFS))
	}
	if len(tips) == 0 {
		return false, nil
	}
	start := time.Now()
	ptrs, err := s.scanLFS(ctx, slices.Sorted(maps.Values(tips)), slices.Compact(slices.Sorted(slices.Values(exclude))), known)
	if err != nil {
		return false, err
	}
	s.o.Logger.Debug("scanned for LFS pointers", "commits", len(tips), "pointers", len(ptrs), "took", time.Since(start))
	done := func() {
		if s.o.LFS && !s.o.DryRun {
			for ref, h := range tips {
				d.LFS[ref] = h
			}
		}
	}
	if len(ptrs) == 0 {
		done()
		return false, nil
	}
	res.LFS = &LFSResult{Objects: len(ptrs)}
	if !s.o.LFS {
		return false, fmt.Errorf("%w: the commits to mirror hold %d Git LFS pointer(s) (%s); the destination would get the pointers without the files; nothing was pushed",
			ErrLFSPointers, len(ptrs), describePointers(ptrs))
	}
	if err := s.copyLFS(ctx, ptrs, res.LFS); err != nil {
		return false, err
	}
	done()
	return res.LFS.Copied > 0 || (s.o.DryRun && res.LFS.Missing > 0), nil
}

// describePointers names a few pointer files for a message.
func describePointers(ptrs map[string]lfsPointer) string {
	var paths []string
	for _, p := range ptrs {
		paths = append(paths, cmpOr(p.Path, p.OID[:12]))
	}
	slices.Sort(paths)
	if len(paths) > 3 {
		return strings.Join(paths[:3], ", ") + ", …"
	}
	return strings.Join(paths, ", ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// copyLFS asks the destination which objects it lacks (a batch "upload" answers with an upload
// action only for those), asks the source where they are (batch "download"), then streams each
// through a verified temporary file: downloaded, checked against the pointer's size and sha256,
// uploaded, verified when the destination asks for it. Batches of lfsBatchSize objects,
// lfsTransfers at a time.
func (s *syncer) copyLFS(ctx context.Context, ptrs map[string]lfsPointer, out *LFSResult) error {
	src := lfsSide{name: "source", endpoint: lfsEndpoint(s.src.URL), creds: s.src.Credentials}
	dst := lfsSide{name: "destination", endpoint: lfsEndpoint(s.dst.URL), creds: s.dst.Credentials}
	oids := slices.Sorted(maps.Keys(ptrs))
	tmpDir := filepath.Join(s.cache.dir, "tagrelay-lfs")
	if !s.o.DryRun {
		if err := os.MkdirAll(tmpDir, cacheDirMode); err != nil {
			return fmt.Errorf("copying LFS objects: %w", err)
		}
		defer os.RemoveAll(tmpDir)
	}
	for len(oids) > 0 {
		n := min(lfsBatchSize, len(oids))
		chunk := oids[:n]
		oids = oids[n:]
		refs := make([]lfsObjectRef, len(chunk))
		for i, oid := range chunk {
			refs[i] = lfsObjectRef{OID: oid, Size: ptrs[oid].Size}
		}
		up, err := s.lfsBatch(ctx, dst, "upload", refs)
		if err != nil {
			return err
		}
		var missing []lfsObjectRef
		uploads := map[string]lfsBatchObject{}
		for _, r := range refs {
			o, ok := up[r.OID]
			switch {
			case !ok:
				return fmt.Errorf("destination LFS server %s did not answer for object %s (%s)", dst.endpoint, r.OID, ptrs[r.OID].Path)
			case o.Error != nil:
				return errdefs.Precondition(fmt.Errorf("destination LFS server %s refuses object %s (%s): %d %s", dst.endpoint, r.OID, ptrs[r.OID].Path, o.Error.Code, o.Error.Message))
			case o.Actions["upload"] == nil:
				out.Present++
			default:
				missing = append(missing, r)
				uploads[r.OID] = o
			}
		}
		out.Missing += len(missing)
		if len(missing) == 0 || s.o.DryRun {
			continue
		}
		down, err := s.lfsBatch(ctx, src, "download", missing)
		if err != nil {
			return err
		}
		jobs := make(chan lfsObjectRef)
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		tctx, cancel := context.WithCancel(ctx)
		for range min(lfsTransfers, len(missing)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range jobs {
					err := s.copyLFSObject(tctx, src, dst, r, down[r.OID], uploads[r.OID], tmpDir)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("%w (%s)", err, ptrs[r.OID].Path)
						cancel()
					} else if err == nil {
						out.Copied++
						out.Bytes += r.Size
					}
					mu.Unlock()
				}
			}()
		}
	feed:
		for _, r := range missing {
			select {
			case jobs <- r:
			case <-tctx.Done():
				break feed
			}
		}
		close(jobs)
		wg.Wait()
		cancel()
		if firstErr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return firstErr
		}
	}
	s.o.Logger.Info("LFS objects", "objects", out.Objects, "present", out.Present, "copied", out.Copied, "bytes", out.Bytes)
	return nil
}

// copyLFSObject copies one object from the source's download action to the destination's upload
// (and verify) action, through a temporary file whose size and sha256 must match the pointer.
func (s *syncer) copyLFSObject(ctx context.Context, src, dst lfsSide, r lfsObjectRef, down, up lfsBatchObject, tmpDir string) error {
	if down.Error != nil {
		if down.Error.Code == http.StatusNotFound || down.Error.Code == http.StatusGone {
			return fmt.Errorf("%w: the source LFS server %s does not have object %s", ErrLFSObject, src.endpoint, r.OID)
		}
		return fmt.Errorf("%w: the source LFS server %s refuses object %s: %d %s", ErrLFSObject, src.endpoint, r.OID, down.Error.Code, down.Error.Message)
	}
	dl := down.Actions["download"]
	if dl == nil {
		return fmt.Errorf("%w: the source LFS server %s gave no download link for object %s", ErrLFSObject, src.endpoint, r.OID)
	}
	f, err := os.CreateTemp(tmpDir, "obj-*")
	if err != nil {
		return fmt.Errorf("copying LFS object: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	err = s.lfsDo(ctx, src, "downloading LFS object "+r.OID, func() (*http.Request, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
		return s.lfsRequest(ctx, src, http.MethodGet, dl, nil)
	}, func(resp *http.Response) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, r.Size+1))
		if err != nil {
			return err // a network error: retried
		}
		if n != r.Size || hex.EncodeToString(h.Sum(nil)) != r.OID {
			return permanent(fmt.Errorf("%w: the source LFS server %s sent %d bytes with another sha256 for object %s (%d bytes)", ErrLFSObject, src.endpoint, n, r.OID, r.Size))
		}
		return nil
	})
	if err != nil {
		return err
	}
	ul := up.Actions["upload"]
	err = s.lfsDo(ctx, dst, "uploading LFS object "+r.OID, func() (*http.Request, error) {
		body := io.NewSectionReader(f, 0, r.Size)
		req, err := s.lfsRequest(ctx, dst, http.MethodPut, ul, body)
		if err == nil {
			req.ContentLength = r.Size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		return req, err
	}, nil)
	if err != nil {
		return err
	}
	verify := up.Actions["verify"]
	if verify == nil {
		return nil
	}
	body, _ := json.Marshal(r)
	return s.lfsDo(ctx, dst, "verifying LFS object "+r.OID, func() (*http.Request, error) {
		req, err := s.lfsRequest(ctx, dst, http.MethodPost, verify, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", lfsMediaType)
			req.Header.Set("Accept", lfsMediaType)
		}
		return req, err
	}, nil)
}

// lfsBatch runs one batch request and returns its objects by oid.
func (s *syncer) lfsBatch(ctx context.Context, side lfsSide, op string, objs []lfsObjectRef) (map[string]lfsBatchObject, error) {
	body, err := json.Marshal(lfsBatchRequest{Operation: op, Transfers: []string{"basic"}, Objects: objs, HashAlgo: "sha256"})
	if err != nil {
		return nil, err
	}
	var resp lfsBatchResponse
	err = s.lfsDo(ctx, side, "LFS batch "+op, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, side.endpoint+"/objects/batch", bytes.NewReader(body))
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("%s LFS endpoint: %v", side.name, err))
		}
		req.Header.Set("Accept", lfsMediaType)
		req.Header.Set("Content-Type", lfsMediaType)
		if !side.creds.Empty() {
			req.Header.Set("Authorization", side.creds.Header())
		}
		return req, nil
	}, func(r *http.Response) error {
		b, err := io.ReadAll(io.LimitReader(r.Body, lfsMaxJSON+1))
		if err != nil {
			return err
		}
		if len(b) > lfsMaxJSON {
			return permanent(fmt.Errorf("%s LFS server %s: batch response larger than %d MiB", side.name, side.endpoint, lfsMaxJSON>>20))
		}
		if err := json.Unmarshal(b, &resp); err != nil {
			return permanent(fmt.Errorf("%s LFS server %s: invalid batch response: %v", side.name, side.endpoint, err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if resp.Transfer != "" && resp.Transfer != "basic" {
		return nil, fmt.Errorf("%s LFS server %s: unsupported transfer %q", side.name, side.endpoint, resp.Transfer)
	}
	out := make(map[string]lfsBatchObject, len(resp.Objects))
	for _, o := range resp.Objects {
		out[o.OID] = o
	}
	return out, nil
}

// lfsRequest builds a request for an action link: its own headers (the server's instruction),
// and this side's credentials only when the link has no Authorization of its own and points at
// the side's own LFS server (scheme and host), never elsewhere (object stores, CDNs).
func (s *syncer) lfsRequest(ctx context.Context, side lfsSide, method string, l *lfsLink, body io.Reader) (*http.Request, error) {
	u, err := url.Parse(l.Href)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, permanent(fmt.Errorf("%s LFS server %s: invalid action link", side.name, side.endpoint))
	}
	req, err := http.NewRequestWithContext(ctx, method, l.Href, body)
	if err != nil {
		return nil, permanent(fmt.Errorf("%s LFS server %s: invalid action link", side.name, side.endpoint))
	}
	for k, v := range l.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Transfer-Encoding", "Content-Length", "Host", "Connection":
			continue // hop-by-hop or computed: Go sets them
		}
		req.Header.Set(k, v)
	}
	ep, _ := url.Parse(side.endpoint)
	if req.Header.Get("Authorization") == "" && !side.creds.Empty() && ep != nil &&
		strings.EqualFold(u.Scheme, ep.Scheme) && strings.EqualFold(u.Host, ep.Host) {
		req.Header.Set("Authorization", side.creds.Header())
	}
	return req, nil
}

// permanentError is an LFS failure that a retry cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// lfsDo sends the request newReq builds and hands a 2xx response to read (nil: drain it),
// retrying network errors, 429 and 5xx with backoff. Errors name the side and what was done,
// never an action link (it may be signed).
func (s *syncer) lfsDo(ctx context.Context, side lfsSide, doing string, newReq func() (*http.Request, error), read func(*http.Response) error) error {
	client := s.lfsClient()
	var last error
	for attempt := 1; attempt <= lfsAttempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt-1) * time.Second):
			}
		}
		req, err := newReq()
		if err != nil {
			return unwrapPermanent(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			last = errdefs.Unavailable(fmt.Errorf("%s: reaching the %s LFS server %s: %v", doing, side.name, side.endpoint, scrubURLError(err)))
			continue
		}
		err = s.lfsResponse(side, doing, resp, read)
		resp.Body.Close()
		var perm *permanentError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return perm.err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		last = err
	}
	return last
}

func unwrapPermanent(err error) error {
	var perm *permanentError
	if errors.As(err, &perm) {
		return perm.err
	}
	return err
}

// lfsResponse classifies a response: permanent for what a retry cannot change (4xx), retryable
// for 429, 5xx and a body cut short.
func (s *syncer) lfsResponse(side lfsSide, doing string, resp *http.Response, read func(*http.Response) error) error {
	if resp.StatusCode/100 == 2 {
		if read == nil {
			_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			return err
		}
		if err := read(resp); err != nil {
			var perm *permanentError
			if errors.As(err, &perm) {
				return err
			}
			return errdefs.Unavailable(fmt.Errorf("%s: %s LFS server %s: %v", doing, side.name, side.endpoint, scrubURLError(err)))
		}
		return nil
	}
	msg := lfsErrorMessage(resp.Body)
	err := fmt.Errorf("%s: %s LFS server %s answered %s%s", doing, side.name, side.endpoint, resp.Status, msg)
	switch {
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		hint := "check the source user and token (read access is enough)"
		if side.name == "destination" {
			hint = "check the destination user and token (LFS uploads need write access)"
		}
		return permanent(errdefs.WithHint(fmt.Errorf("%w: %w", ErrAuth, err), hint))
	case resp.StatusCode == http.StatusNotFound:
		return permanent(errdefs.WithHint(fmt.Errorf("%w: %w", ErrRepoNotFound, err), "check that Git LFS is enabled on the "+side.name+" repository"))
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return errdefs.Unavailable(err)
	}
	return permanent(errdefs.Precondition(err))
}

// lfsErrorMessage reads the message of an LFS error body ({"message": …}), bounded.
func lfsErrorMessage(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 4096))
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		return ": " + oneLineMsg(e.Message)
	}
	return ""
}

func oneLineMsg(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// scrubURLError drops the URL of a *url.Error, which for an action link may hold a signature.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// lfsClient is the HTTP client of the LFS transfers: the CA bundle and TLS choice of the git
// transfers, proxies from o.Env (or the process's environment), Authorization dropped on a
// redirect to another host (net/http's rule).
func (s *syncer) lfsClient() *http.Client {
	s.lfsOnce.Do(func() {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.o.Insecure} //nolint:gosec // --insecure, warned about by the CLI
		if len(s.caBundle) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AppendCertsFromPEM(s.caBundle)
			tlsCfg.RootCAs = pool
		}
		proxy := http.ProxyFromEnvironment
		if s.o.Env != nil {
			cfg := httpproxy.Config{
				HTTPProxy:  envValue(s.o.Env, "HTTP_PROXY", "http_proxy"),
				HTTPSProxy: envValue(s.o.Env, "HTTPS_PROXY", "https_proxy"),
				NoProxy:    envValue(s.o.Env, "NO_PROXY", "no_proxy"),
			}
			pf := cfg.ProxyFunc()
			proxy = func(r *http.Request) (*url.URL, error) { return pf(r.URL) }
		}
		s.lfsHTTP = &http.Client{Transport: &http.Transport{
			Proxy:                 proxy,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsCfg,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   lfsTransfers * 2,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			ExpectContinueTimeout: time.Second,
		}}
	})
	return s.lfsHTTP
}

// envValue returns the first non-empty value of keys in env (KEY=value entries).
func envValue(env []string, keys ...string) string {
	for _, k := range keys {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok && v != "" {
				return v
			}
		}
	}
	return ""
}
