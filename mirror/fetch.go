package mirror

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// fetch brings refs into the cache with their objects (only what it lacks: the cache's refs are
// the negotiation's haves) and returns them as the cache now has them, which is the source's
// state at fetch time: every branch (All) and tag (Tags), the namespaces fetched whole and
// pruned so that a ref created or deleted meanwhile is seen, plus the exact refs.
func (s *syncer) fetch(ctx context.Context, exact []string) (map[string]plumbing.Hash, error) {
	var specs []string
	if s.o.All {
		specs = append(specs, "+refs/heads/*:refs/heads/*")
	}
	if s.o.Tags {
		specs = append(specs, "+refs/tags/*:refs/tags/*")
	}
	for _, ref := range exact {
		specs = append(specs, "+"+ref+":"+ref)
	}
	args := []string{"fetch", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", "--stdin"}
	if s.o.All || s.o.Tags {
		args = append(args, "--prune")
	}
	if s.o.Progress != nil {
		args = append(args, "--progress")
	} else {
		args = append(args, "--quiet")
	}
	s.o.Logger.Info("fetching into cache", "repo", s.src.URL, "path", s.cache.dir)
	start := time.Now()
	defer func() { s.o.Logger.Debug("fetched", "took", time.Since(start)) }()
	s.cache.repo = nil // new packs: reopen
	complete := false
	if s.cache.fresh {
		var err error
		if complete, err = s.seed(ctx, exact); err != nil {
			return nil, err
		}
	}
	if !complete {
		_, err := s.git.run(ctx, s.cache.dir, s.src.Credentials, strings.NewReader(strings.Join(specs, "\n")+"\n"), append(args, s.src.URL)...)
		if err != nil {
			return nil, classifyTransfer("fetching from source", s.src.URL, err)
		}
	}
	repo, err := s.cache.open()
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("reading cache refs: %w", err)
	}
	defer iter.Close()
	err = iter.ForEach(func(r *plumbing.Reference) error {
		name := r.Name().String()
		if r.Type() == plumbing.HashReference && s.covered(name) {
			out[name] = r.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading cache refs: %w", err)
	}
	for _, ref := range exact {
		r, err := repo.Storer.Reference(plumbing.ReferenceName(ref))
		if err != nil {
			return nil, fmt.Errorf("reading cache ref %s: %w", ref, err)
		}
		out[ref] = r.Hash()
	}
	return out, nil
}

// seed fills a cache this run created with git clone, which, unlike a fetch into an empty
// repository, does not walk every object to check connectivity (index-pack checks the pack is
// self-contained instead): a first sync of a large repository is several percent faster. It
// reports whether the clone brought everything in scope; when it did not, a fetch follows (and
// finds only what is left). Scopes clone cannot express (tags only) are left to the fetch.
func (s *syncer) seed(ctx context.Context, exact []string) (complete bool, err error) {
	args := []string{"clone", "--bare"}
	for _, kv := range cacheConfig {
		args = append(args, "--config", kv[0]+"="+kv[1])
	}
	switch {
	case s.o.All:
		complete = len(exact) == 0
	case len(exact) > 0 && strings.HasPrefix(exact[0], headsPrefix):
		args = append(args, "--single-branch", "--branch", strings.TrimPrefix(exact[0], headsPrefix))
		complete = len(exact) == 1 && !s.o.Tags
	default:
		return false, nil
	}
	if !s.o.Tags || !complete {
		args = append(args, "--no-tags") // the fetch that follows brings every tag
	}
	if s.o.Progress != nil {
		args = append(args, "--progress")
	} else {
		args = append(args, "--quiet")
	}
	if err := os.RemoveAll(s.cache.dir); err != nil {
		return false, fmt.Errorf("seeding cache: %w", err)
	}
	s.o.Logger.Debug("seeding cache", "path", s.cache.dir)
	_, err = s.git.run(ctx, filepath.Dir(s.cache.dir), s.src.Credentials, nil, append(args, s.src.URL, s.cache.dir)...)
	if err != nil {
		// Leave an empty cache behind, as this run found it.
		os.RemoveAll(s.cache.dir)
		if cerr := s.cache.create(context.WithoutCancel(ctx), s.git); cerr != nil {
			return false, cerr
		}
		return false, classifyTransfer("cloning the source", s.src.URL, err)
	}
	s.cache.fresh = false
	// git clone made the directory with the umask's mode.
	if err := os.Chmod(s.cache.dir, cacheDirMode); err != nil {
		return false, fmt.Errorf("seeding cache: %w", err)
	}
	return complete, nil
}

// guess returns the exact refs to fetch before the source is listed, and false when only the
// listing can tell (the default branch, patterns). A short name is guessed to be a branch; if it
// is a tag, the early fetch fails and the listed refs are fetched instead.
func (s *syncer) guess() ([]string, bool) {
	if len(s.o.Refs) == 0 {
		return nil, s.o.All || s.o.Tags
	}
	var out []string
	for _, raw := range s.o.Refs {
		p, err := parseRefPattern(raw)
		if err != nil || p.glob {
			return nil, false
		}
		ref := p.full
		if ref == "" {
			ref = headsPrefix + p.short
		}
		if !s.covered(ref) {
			out = append(out, ref)
		}
	}
	return out, true
}

// exact returns the wanted refs that a namespace fetch does not cover.
func (s *syncer) exact(wanted map[string]plumbing.Hash) []string {
	var out []string
	for _, ref := range slices.Sorted(maps.Keys(wanted)) {
		if !s.covered(ref) {
			out = append(out, ref)
		}
	}
	return out
}

// open opens the cache with go-git once per fetch: go-git lists the packs when it opens a
// repository, so it must be opened after git has written new ones.
func (c *cache) open() (*gogit.Repository, error) {
	if c.repo == nil {
		repo, err := gogit.PlainOpen(c.dir)
		if err != nil {
			return nil, fmt.Errorf("opening cache: %w", err)
		}
		c.repo = repo
	}
	return c.repo, nil
}

// covered reports whether a ref is in a namespace fetched whole.
func (s *syncer) covered(ref string) bool {
	return inNamespaces(ref, s.o.All, s.o.Tags)
}

// ancestry returns the fast-forward check over the cache's object graph. Every ancestor of a
// fetched commit is in the cache, so a destination commit the cache lacks is not an ancestor.
func (c *cache) ancestry() (fastForward, error) {
	repo, err := c.open()
	if err != nil {
		return nil, err
	}
	return func(old, new plumbing.Hash) (bool, string, error) {
		if ok, err := reaches(repo.Storer, new, old, fastWalk); err != nil || ok {
			return ok, "", err
		}
		oc, err := object.GetCommit(repo.Storer, old)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return false, "the destination has commits the source does not", nil
		}
		if err != nil {
			return false, "the destination ref is not a commit", nil
		}
		nc, err := object.GetCommit(repo.Storer, new)
		if err != nil {
			return false, "", fmt.Errorf("reading source commit %s: %w", new, err)
		}
		if ok, err := oc.IsAncestor(nc); err != nil || ok {
			return ok, "", err
		}
		if behind, _ := nc.IsAncestor(oc); behind {
			return false, "the source is behind the destination: the update would move it back", nil
		}
		return false, "the histories diverged", nil
	}, nil
}

// fastWalk bounds the walk of reaches before ancestry falls back to go-git's IsAncestor.
const fastWalk = 64

// reaches reports whether old is among the first max ancestors of new, comparing parent hashes
// before reading them. The usual update, a few commits on top of what the destination has, so
// reads only the commits just fetched (loose objects, for a small fetch) and never opens the
// index of the cache's big pack, which go-git decodes whole: 45 ms on a 15,000-commit cache,
// a tenth of an incremental sync. false means "not found within max", not "not an ancestor".
func reaches(s storer.EncodedObjectStorer, new, old plumbing.Hash, max int) (bool, error) {
	queue, seen := []plumbing.Hash{new}, map[plumbing.Hash]bool{new: true}
	for len(queue) > 0 && len(seen) <= max {
		c, err := object.GetCommit(s, queue[0])
		if err != nil {
			return false, fmt.Errorf("reading source commit %s: %w", queue[0], err)
		}
		queue = queue[1:]
		for _, p := range c.ParentHashes {
			if p == old {
				return true, nil
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, nil
}

// classifyTransfer turns a failed git fetch or push into an error the user can act on. git has
// no machine-readable errors, so this reads the (LC_ALL=C) messages of git's http transport.
func classifyTransfer(doing, url string, err error) error {
	var ge *GitError
	if !errors.As(err, &ge) {
		return fmt.Errorf("%s %s: %w", doing, url, err)
	}
	msg := ge.Stderr
	switch {
	case strings.Contains(msg, "Authentication failed"), strings.Contains(msg, "could not read Username"),
		strings.Contains(msg, "The requested URL returned error: 401"), strings.Contains(msg, "The requested URL returned error: 403"):
		return fmt.Errorf("%s %s: %w: %s", doing, url, ErrAuth, msg)
	case strings.Contains(msg, "not found"), strings.Contains(msg, "returned error: 404"):
		return fmt.Errorf("%s %s: %w: %s", doing, url, ErrRepoNotFound, msg)
	case strings.Contains(msg, "couldn't find remote ref"):
		return errdefs.WithHint(fmt.Errorf("%s %s: %w: %s", doing, url, ErrRefDeleted, msg), "run again to mirror the source as it is now")
	}
	return errdefs.Unavailable(fmt.Errorf("%s %s: %w", doing, url, err))
}
