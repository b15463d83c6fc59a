package mirror

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/gitauth"
)

// Remote is one side of a mirror.
type Remote struct {
	// URL is the repository URL without credentials (https://host/group/repo.git). A URL
	// without a scheme (host/group/repo.git, as Cloud π Native's GIT_INPUT_URL) means https.
	URL string
	// Credentials are sent as HTTP basic auth; empty means anonymous.
	Credentials gitauth.Credentials
}

// Options says what to mirror and how. The zero value mirrors the source's default branch.
type Options struct {
	// Refs are the branches and tags to mirror: short names (main, v1.2.0), full names
	// (refs/heads/main) or glob patterns on short names (release/*). Empty with All false means
	// the source's default branch.
	Refs []string
	// All mirrors every branch.
	All bool
	// Tags mirrors every tag.
	Tags bool
	// Prune deletes destination branches (with All) and tags (with Tags) that the source no
	// longer has, but only those this tool mirrored before and the destination has not changed
	// since.
	Prune bool
	// Force applies non-fast-forward updates and moved tags instead of refusing them. Each
	// forced update still carries the destination value it was planned against.
	Force bool
	// Atomic pushes all or nothing: one refused ref (or one the destination rejects) stops the
	// whole push. Default: every ref that can be updated safely is pushed, and the refused ones
	// are reported (ErrNonFastForward) after.
	Atomic bool
	// Protected are the refs deploys depend on (names or patterns as in Refs): a refusal lists
	// them first and marks them. Default: Refs, or else the source's default branch.
	Protected []string
	// LFS copies the Git LFS objects of the mirrored commits from the source's LFS server to the
	// destination's (only those the destination lacks), before the refs are pushed. Without it, a
	// sync whose commits hold LFS pointers is refused (ErrLFSPointers).
	LFS bool
	// DryRun plans (and fetches into the cache) but pushes nothing. With LFS it asks the
	// destination which objects it lacks and copies none.
	DryRun bool
	// PushOptions are passed to the destination as git push options (ci.skip,
	// merge_request.create, ...).
	PushOptions []string
	// CacheDir is the root of the persistent caches: each source gets a bare repository in
	// CacheDir/<hash of its URL>. Required.
	CacheDir string
	// CAFile is a PEM bundle of extra CAs for both remotes (and their LFS servers). Default: the
	// system's.
	CAFile string
	// Insecure skips TLS verification for both remotes. Default: false.
	Insecure bool
	// Git is the git binary. Default: "git" looked up on PATH.
	Git string
	// Env is the base environment of git processes (PATH, HOME, proxies), and where the LFS
	// transfers read their proxy variables. Default: the process's environment.
	Env []string
	// Progress receives git's progress and messages (its stderr) as they come. Default: none.
	// The caller redacts it if it may show secrets.
	Progress io.Writer
	// Logger receives what the sync does. Default: discard.
	Logger *slog.Logger
	// Attempts bounds how often a push whose leases were lost to a concurrent writer is
	// re-planned and retried. Default: 3.
	Attempts int
}

func (o *Options) validate() error {
	if o.CacheDir == "" {
		return errdefs.Invalid(errors.New("no cache directory given"))
	}
	if o.Prune && !o.All && !o.Tags {
		return ErrPruneScope
	}
	for _, r := range o.Refs {
		if _, err := parseRefPattern(r); err != nil {
			return err
		}
	}
	for _, r := range o.Protected {
		if _, err := parseRefPattern(r); err != nil {
			return err
		}
	}
	for _, p := range o.PushOptions {
		if strings.ContainsAny(p, "\n\x00") {
			return errdefs.Invalid(fmt.Errorf("push option %q contains a line break", p))
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Git == "" {
		o.Git = "git"
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	return nil
}

// NormalizeURL returns the URL git and go-git are given: a scheme-less URL gets https://, user
// info is refused (use Credentials or gitauth.FromURL). SSH and file URLs are not supported: the
// mirror speaks smart HTTP only.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errdefs.Invalid(errors.New("empty repository URL"))
	}
	if !strings.Contains(raw, "://") {
		if strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, ".") || strings.Contains(strings.SplitN(raw, "/", 2)[0], "@") {
			return "", errdefs.Invalid(fmt.Errorf("repository URL %q: only http(s) URLs are supported", raw))
		}
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, which may hold a token: keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", errdefs.Invalid(fmt.Errorf("parsing repository URL: %v", err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errdefs.Invalid(fmt.Errorf("repository URL %s: only http(s) URLs are supported", u.Redacted()))
	}
	if u.Host == "" {
		return "", errdefs.Invalid(fmt.Errorf("repository URL %q has no host", raw))
	}
	if u.User != nil {
		return "", errdefs.Invalid(errors.New("repository URL carries credentials; pass them separately"))
	}
	return u.String(), nil
}
