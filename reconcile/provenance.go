package reconcile

import (
	"container/heap"
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/tagrelay/tagrelay/internal/provenance"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Bounds of the provenance read of one sync: the infra repository is a project team's, its
// history of any depth.
const (
	// maxProvenanceCommits is how many infra commits one read walks, on each side of the range.
	maxProvenanceCommits = 200
	// maxAppCommits is how many app commits a result lists.
	maxAppCommits = 20
)

// readProvenance sets res.AppCommits: the app commits that res.Revision carries since the app's
// last successful deploy of another revision, from the provenance trailers of the infra commits
// in between (see appCommits). It needs res.Revision; it is a no-op when AppCommits are already
// set. It never fails a sync: no cache (--cache-dir ""), a missing history or a read error leave
// AppCommits empty, logged at debug level.
func (r *Reconciler) readProvenance(ctx context.Context, app App, res *Result) {
	if res.Revision == "" || res.AppCommits != nil {
		return
	}
	history, err := r.History(ctx, app.Name)
	if err != nil {
		r.log.Debug("no provenance: reading the history failed", "app", app.Name, "error", err)
	}
	var deployed []string
	for _, c := range res.Images {
		if c.After != "" {
			deployed = append(deployed, c.After)
		}
	}
	commits, err := r.git.provenance(app, lastDeployed(history, res.Revision), res.Revision, deployed)
	if err != nil {
		r.log.Debug("no provenance: reading the infra commits failed", "app", app.Name, "error", err)
		return
	}
	res.AppCommits = commits
}

// lastDeployed is the revision of the newest successful sync of another revision than to: the
// commit running before to. A retry of the same revision thus reports the same app commits as
// its first attempt.
func lastDeployed(history []Result, to string) string {
	for _, h := range history {
		if h.Status == api.StatusSucceeded && h.Revision != "" && h.Revision != to {
			return h.Revision
		}
	}
	return ""
}

// provenance opens app's cached repository (under the lock its fetches take) and reads the app
// commits of the range from..to. Without a cache directory nothing was kept: none.
func (f *fetcher) provenance(app App, from, to string, deployed []string) ([]api.AppCommit, error) {
	if f.dir == "" {
		return nil, nil
	}
	mu, _ := f.locks.LoadOrStore(f.cachePath(app), &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	repo, err := git.PlainOpen(f.cachePath(app))
	if err != nil {
		return nil, err
	}
	var fromHash plumbing.Hash
	if hexRevision.MatchString(from) {
		fromHash = plumbing.NewHash(from)
	}
	return appCommits(repo.Storer, fromHash, plumbing.NewHash(to), app.Path, deployed, maxProvenanceCommits), nil
}

// appCommits returns the app commits that infra commit to carries since from (the commit deployed
// before; zero for none): git's from..to, walked newest first, at most limit commits on each side
// (a missing commit — a shallow cache — ends its line of history). Each infra commit's provenance
// trailers name the app commit its images come from; an infra commit counts when one of its images
// is deployed (exact NAME:TAG, docker.io defaults aside), or, when nothing is known deployed yet (the
// sync failed before the plan), when it changes something below path. So a bump of another app of
// the same repository, or an image a later commit replaced, is not this deploy's. App commits are
// merged by repository and SHA, newest first, at most maxAppCommits.
func appCommits(s storer.EncodedObjectStorer, from, to plumbing.Hash, path string, deployed []string, limit int) []api.AppCommit {
	stop := map[plumbing.Hash]bool{}
	if !from.IsZero() {
		walk(s, from, nil, limit, func(c *object.Commit) { stop[c.Hash] = true })
	}
	running := map[string]bool{}
	for _, img := range deployed {
		running[canonicalImage(img)] = true
	}
	var out []api.AppCommit
	index := map[string]int{}
	walk(s, to, stop, limit, func(c *object.Commit) {
		rec, ok := provenance.Read(c.Message)
		if !ok {
			return
		}
		images := rec.Images
		if len(running) > 0 {
			images = nil
			for _, img := range rec.Images {
				if running[canonicalImage(img)] {
					images = append(images, img)
				}
			}
			if len(images) == 0 {
				return
			}
		} else if !touches(s, c, path) {
			return
		}
		key := rec.Source.Repo + "@" + rec.Source.Commit
		if i, ok := index[key]; ok {
			out[i].Images = appendNew(out[i].Images, images...)
			return
		}
		if len(out) < maxAppCommits {
			index[key] = len(out)
			out = append(out, api.AppCommit{Commit: rec.Source.Commit, Repo: rec.Source.Repo, Images: appendNew(nil, images...), InfraCommit: c.Hash.String()})
		}
	})
	return out
}

// walk calls f for the commits reachable from start, newest committer time first (git log's
// order), at most limit of them, not entering the commits of stop. A commit the store lacks ends
// that line of history.
func walk(s storer.EncodedObjectStorer, start plumbing.Hash, stop map[plumbing.Hash]bool, limit int, f func(*object.Commit)) {
	seen := map[plumbing.Hash]bool{}
	q := &commitQueue{}
	push := func(h plumbing.Hash) {
		if seen[h] || stop[h] {
			return
		}
		seen[h] = true
		if c, err := object.GetCommit(s, h); err == nil {
			heap.Push(q, c)
		}
	}
	push(start)
	for n := 0; q.Len() > 0 && n < limit; n++ {
		c := heap.Pop(q).(*object.Commit)
		f(c)
		for _, p := range c.ParentHashes {
			push(p)
		}
	}
}

// commitQueue is a heap of commits, the newest committer time on top.
type commitQueue []*object.Commit

func (q commitQueue) Len() int           { return len(q) }
func (q commitQueue) Less(i, j int) bool { return q[i].Committer.When.After(q[j].Committer.When) }
func (q commitQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)        { *q = append(*q, x.(*object.Commit)) }
func (q *commitQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

// touches reports whether commit c changes something below path (the repository root for ""),
// compared with its first parent. Unknown (a missing parent or tree) counts as a change.
func touches(s storer.EncodedObjectStorer, c *object.Commit, path string) bool {
	here, err := subtree(c, path)
	if err != nil {
		return !errors.Is(err, object.ErrDirectoryNotFound) && !errors.Is(err, object.ErrEntryNotFound)
	}
	if len(c.ParentHashes) == 0 {
		return true
	}
	parent, err := object.GetCommit(s, c.ParentHashes[0])
	if err != nil {
		return true
	}
	before, err := subtree(parent, path)
	return err != nil || before != here
}

// subtree returns the hash of the tree (or file) at path in c.
func subtree(c *object.Commit, path string) (plumbing.Hash, error) {
	tree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if path == "" || path == "." {
		return tree.Hash, nil
	}
	e, err := tree.FindEntry(path)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return e.Hash, nil
}

// canonicalImage is NAME:TAG without a digest and without the docker.io defaults, so nginx:1,
// docker.io/library/nginx:1 and index.docker.io/library/nginx:1@sha256:… compare equal.
func canonicalImage(img string) string {
	img, _, _ = strings.Cut(img, "@")
	for _, p := range []string{"index.docker.io/", "docker.io/"} {
		if rest, ok := strings.CutPrefix(img, p); ok {
			img = strings.TrimPrefix(rest, "library/")
			break
		}
	}
	return strings.TrimPrefix(img, "library/")
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, x := range list {
			dup = dup || x == it
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}
