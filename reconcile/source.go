package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/redact"
)

// maxFileSize skips blobs that cannot be manifests (binaries committed next to them).
const maxFileSize = 8 << 20

// Source is the content of one commit of an app's repository.
type Source struct {
	// Commit is the resolved commit hash.
	Commit string
	// Files maps slash-separated paths, relative to the repository root, to their content.
	Files map[string][]byte
}

// Revision is a resolved revision: the commit an app's configured revision points at.
type Revision struct {
	Commit plumbing.Hash
	// Ref is the full ref name it came from, "" for a commit hash.
	Ref plumbing.ReferenceName
}

// fetcher keeps one bare repository per remote URL and credential under dir, so each fetch
// transfers only new objects. With dir "" it uses memory (nothing cached). Listings of refs are
// shared by the apps of a repository (source_pool.go); a sync reads only its app's path, within
// limits (source_tree.go). Every git operation has a deadline (the app's limits.gitTimeout, else
// timeout): a server that accepts the connection and never answers costs the app one timeout,
// and apps on other repositories never wait for it.
type fetcher struct {
	dir     string
	timeout time.Duration
	locks   sync.Map // cache directory → *sync.Mutex: apps sharing a repository fetch in turn
	lists   refLister
	limits  SourceLimits
}

func newFetcher(dir string, timeout time.Duration, limits SourceLimits) *fetcher {
	return &fetcher{dir: dir, timeout: timeout, limits: limits, lists: refLister{timeout: timeout}}
}

// deadline bounds one git operation of app.
func (f *fetcher) deadline(ctx context.Context, app App) (context.Context, context.CancelFunc) {
	t := time.Duration(app.Limits.GitTimeout)
	if t <= 0 {
		t = f.timeout
	}
	if t <= 0 {
		t = DefaultGitTimeout
	}
	return context.WithTimeoutCause(ctx, t, fmt.Errorf("%w after %s", errGitTimeout, t))
}

// errGitTimeout is the cause of a git operation cut by its deadline.
var errGitTimeout = errors.New("git server did not answer")

var hexRevision = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Resolve lists the remote's refs (git ls-remote: one small request, shared with the other
// apps of the repository that ask meanwhile) and returns the commit that app.Revision points
// at; a sync a poll started deploys the commit the poll found (withResolved).
func (f *fetcher) Resolve(ctx context.Context, app App) (Revision, error) {
	if hexRevision.MatchString(app.Revision) {
		return Revision{Commit: plumbing.NewHash(app.Revision)}, nil
	}
	if rev, ok := resolvedIn(ctx, app); ok {
		return rev, nil
	}
	ctx, cancel := f.deadline(ctx, app)
	defer cancel()
	refs, err := f.lists.refs(ctx, app)
	if err != nil {
		return Revision{}, gitError(ctx, app, "listing refs of", err)
	}
	return revisionIn(app, refs)
}

// revisionIn returns the commit app.Revision points at among refs.
func revisionIn(app App, refs []*plumbing.Reference) (Revision, error) {
	if hexRevision.MatchString(app.Revision) {
		return Revision{Commit: plumbing.NewHash(app.Revision)}, nil
	}
	want := map[plumbing.ReferenceName]bool{
		plumbing.NewBranchReferenceName(app.Revision): true,
		plumbing.NewTagReferenceName(app.Revision):    true,
		plumbing.ReferenceName(app.Revision):          true,
	}
	for _, r := range refs {
		if r.Type() == plumbing.SymbolicReference && want[r.Name()] {
			want[r.Target()] = true // HEAD → refs/heads/main
		}
	}
	for _, r := range refs {
		if want[r.Name()] && r.Type() == plumbing.HashReference {
			return Revision{Commit: r.Hash(), Ref: r.Name()}, nil
		}
	}
	return Revision{}, errdefs.WithHint(errdefs.NotFound(fmt.Errorf("revision %q not found in %s", app.Revision, redact.URL(app.Repo))),
		"check the app's revision (a branch, a tag or a 40-character commit hash)")
}

// Fetch makes rev available locally (fetching only when the commit is not in the cache yet) and
// returns the files of that commit that the app reads (source_tree.go).
func (f *fetcher) Fetch(ctx context.Context, app App, rev Revision) (*Source, error) {
	var src *Source
	err := f.withCommit(ctx, app, rev, func(commit *object.Commit) error {
		files, err := readSource(commit, app, f.limits)
		if err != nil {
			return fmt.Errorf("reading commit %s: %w", commit.Hash, err)
		}
		src = &Source{Commit: commit.Hash.String(), Files: files}
		return nil
	})
	return src, err
}

// withCommit makes rev available locally and calls fn with its commit, under the lock of the
// repository's cache.
func (f *fetcher) withCommit(ctx context.Context, app App, rev Revision, fn func(*object.Commit) error) error {
	mu, _ := f.locks.LoadOrStore(f.cachePath(app), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	ctx, cancel := f.deadline(ctx, app)
	defer cancel()
	repo, err := f.open(app)
	if err != nil {
		return err
	}
	if _, err := repo.Object(plumbing.AnyObject, rev.Commit); err != nil {
		specs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
		if rev.Ref != "" {
			specs = []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", rev.Ref, rev.Ref))}
		}
		err := repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: specs,
			Auth: app.Credentials.GoGit(), Tags: git.NoTags, Force: true})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return gitError(ctx, app, "fetching", err)
		}
	}
	commit, err := commitOf(repo, rev.Commit)
	if err != nil {
		return errdefs.WithHint(errdefs.NotFound(fmt.Errorf("revision %s of %s: %w", app.Revision, redact.URL(app.Repo), err)),
			"check the app's revision")
	}
	return fn(commit)
}

func (f *fetcher) open(app App) (*git.Repository, error) {
	if f.dir == "" {
		repo, err := git.Init(memory.NewStorage(), nil)
		if err != nil {
			return nil, err
		}
		_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{app.Repo}})
		return repo, err
	}
	dir := f.cachePath(app)
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(f.dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the git cache: %w", err)
		}
		if repo, err = git.PlainInit(dir, true); err != nil {
			return nil, fmt.Errorf("creating the git cache: %w", err)
		}
		_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{app.Repo}})
	}
	if err != nil {
		return nil, fmt.Errorf("opening the git cache %s: %w", dir, err)
	}
	return repo, nil
}

// cachePath is the bare repository of the app's remote and credential (sourceKey): objects
// fetched with one credential are never read with another.
func (f *fetcher) cachePath(app App) string {
	k := sourceKeyOf(app)
	sum := sha256.Sum256([]byte(k.repo + "\x00" + k.credential))
	return filepath.Join(f.dir, hex.EncodeToString(sum[:8])+".git")
}

// commitOf peels an annotated tag to its commit.
func commitOf(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	if tag, err := repo.TagObject(h); err == nil {
		return tag.Commit()
	}
	return repo.CommitObject(h)
}

// gitError classifies a go-git error: everything is operational (exit 1) except a repository
// that does not exist, with a hint on what to check.
func gitError(ctx context.Context, app App, doing string, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errGitTimeout) {
		err = cause // go-git reports the cancelled request; say why it was cancelled
	}
	err = fmt.Errorf("%s %s: %w", doing, redact.URL(app.Repo), err)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return errdefs.WithHint(errdefs.Unavailable(err), "check the app's auth.tokenFile or auth.tokenEnv")
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return errdefs.WithHint(errdefs.NotFound(err), "check the app's repo URL")
	}
	return errdefs.WithHint(errdefs.Unavailable(err), "check that the repository is reachable from the reconciler")
}

// Files returns the files of repoURL at ref (default: the remote's HEAD), for remote Kustomize
// bases on allowed hosts (render.GitFetcher): the same cache and deadlines as the apps', no
// credentials.
func (f *fetcher) Files(ctx context.Context, repoURL, ref string) (map[string][]byte, error) {
	if ref == "" {
		ref = "HEAD"
	}
	app := App{Name: "remote", Repo: repoURL, Revision: ref}
	rev, err := f.Resolve(ctx, app)
	if err != nil {
		return nil, err
	}
	src, err := f.Fetch(ctx, app, rev)
	if err != nil {
		return nil, err
	}
	return src.Files, nil
}
