package reconcile

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// reloadGit reads every git generator whose revision moved since it was last read (its
// repository is listed with the apps' shared listings and kept in the same cache) and applies
// the result. A generator that fails keeps the apps it gave last.
func (s *Server) reloadGit(ctx context.Context) {
	s.setMu.Lock()
	gens := s.gens
	parts := make(map[string]*configPart, len(s.sources))
	for k, p := range s.sources {
		parts[k] = p
	}
	if s.gitSeen == nil {
		s.gitSeen = map[int]string{}
	}
	s.setMu.Unlock()
	changed := false
	for i, g := range gens {
		if g.Git == nil {
			continue
		}
		key := fmt.Sprintf("git:%d", i)
		apps, commit, err := s.generate(ctx, g)
		if err != nil {
			if ctx.Err() == nil {
				s.metrics.reloads.WithLabelValues("git", "error").Inc()
				s.log.Error("git generator left as it was", "repo", g.Git.Repo, "error", err)
			}
			continue
		}
		s.setMu.Lock()
		seen := s.gitSeen[i] == commit && parts[key] != nil
		s.gitSeen[i] = commit
		s.setMu.Unlock()
		if seen {
			continue
		}
		s.metrics.reloads.WithLabelValues("git", "ok").Inc()
		parts[key] = &configPart{apps: apps, prune: g.Prune}
		changed = true
	}
	if changed {
		s.apply(parts)
	}
}

// generate reads a git generator: the apps of the directories matching its patterns at its
// revision, and that commit.
func (s *Server) generate(ctx context.Context, g Generator) ([]App, string, error) {
	src := g.Git.source()
	rev, err := s.r.git.Resolve(ctx, src)
	if err != nil {
		return nil, "", err
	}
	depth := 0
	for _, p := range g.Git.Directories {
		depth = max(depth, strings.Count(strings.TrimPrefix(p, "!"), "/")+1)
	}
	var dirs []string
	err = s.r.git.withCommit(ctx, src, rev, func(c *object.Commit) error {
		tree, err := c.Tree()
		if err != nil {
			return err
		}
		dirs, err = treeDirs(tree, "", depth, maxGeneratedApps*4)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	var apps []App
	for _, d := range g.Git.matchDirs(dirs) {
		if len(apps) == maxGeneratedApps {
			return nil, "", fmt.Errorf("more than %d directories match %s", maxGeneratedApps, strings.Join(g.Git.Directories, ", "))
		}
		a, err := g.generate(d)
		if err != nil {
			return nil, "", err
		}
		apps = append(apps, a)
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps, rev.Commit.String(), nil
}

// treeDirs returns the directories of tree down to depth levels, at most limit of them (only
// trees are read, no file).
func treeDirs(tree *object.Tree, prefix string, depth, limit int) ([]string, error) {
	var out []string
	var walk func(t *object.Tree, prefix string, depth int) error
	walk = func(t *object.Tree, prefix string, depth int) error {
		for _, e := range t.Entries {
			if e.Mode != filemode.Dir {
				continue
			}
			p := path.Join(prefix, e.Name)
			if len(out) == limit {
				return fmt.Errorf("more than %d directories in the repository", limit)
			}
			out = append(out, p)
			if depth > 1 {
				sub, err := t.Tree(e.Name)
				if err != nil {
					return err
				}
				if err := walk(sub, p, depth-1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(tree, prefix, depth)
}
