package mirror

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// The only namespaces a mirror reads and writes. Everything else a server advertises (GitLab's
// refs/merge-requests/*, refs/pipelines/*, refs/keep-around/*, GitHub's refs/pull/*) is
// server-internal and rejected on push.
const (
	headsPrefix = "refs/heads/"
	tagsPrefix  = "refs/tags/"
)

// mirrorable reports whether a ref is a branch or a tag.
func mirrorable(ref string) bool {
	return strings.HasPrefix(ref, headsPrefix) || strings.HasPrefix(ref, tagsPrefix)
}

// inNamespaces reports whether a ref is in a namespace fetched and pruned whole: every branch
// with all, every tag with tags.
func inNamespaces(ref string, all, tags bool) bool {
	return (all && strings.HasPrefix(ref, headsPrefix)) || (tags && strings.HasPrefix(ref, tagsPrefix))
}

// refPattern is one requested ref: an exact full name, a short name resolved against the source
// (branch first, then tag), or a glob on short names.
type refPattern struct {
	full  string // refs/heads/x or refs/tags/x
	short string
	glob  bool
}

func parseRefPattern(raw string) (refPattern, error) {
	var p refPattern
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return p, fmt.Errorf("%w: empty ref", ErrInvalidRef)
	case strings.HasPrefix(s, "refs/"):
		if !mirrorable(s) {
			return p, fmt.Errorf("%w: %s is not a branch or a tag (only refs/heads/* and refs/tags/* are mirrored)", ErrInvalidRef, s)
		}
		p.full = s
	case strings.HasPrefix(s, "heads/"), strings.HasPrefix(s, "tags/"):
		p.full = "refs/" + s
	case strings.ContainsAny(s, "*?["):
		if _, err := path.Match(s, ""); err != nil {
			return p, fmt.Errorf("%w: pattern %q: %v", ErrInvalidRef, s, err)
		}
		p.short, p.glob = s, true
		return p, nil
	default:
		p.short = s
	}
	check := p.full
	if check == "" {
		check = headsPrefix + p.short
	}
	if err := plumbing.ReferenceName(check).Validate(); err != nil || strings.HasSuffix(check, "/") {
		return p, fmt.Errorf("%w: %q is not a valid ref name", ErrInvalidRef, s)
	}
	return p, nil
}

// selectRefs returns the source refs in scope: every branch with all, every tag with tags, and
// the requested refs. With nothing requested it is the source's default branch.
func selectRefs(src map[string]plumbing.Hash, head string, refs []string, all, tags bool) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	for name, h := range src {
		if inNamespaces(name, all, tags) {
			out[name] = h
		}
	}
	if len(refs) == 0 && !all && !tags {
		if head == "" {
			return nil, fmt.Errorf("%w: the source has no default branch%s", ErrRefNotFound, suggest(src))
		}
		refs = []string{head}
	}
	for _, raw := range refs {
		p, err := parseRefPattern(raw)
		if err != nil {
			return nil, err
		}
		names := p.resolve(src)
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: %s is not a branch or tag of the source%s", ErrRefNotFound, raw, suggest(src))
		}
		for _, n := range names {
			out[n] = src[n]
		}
	}
	return out, nil
}

// matches reports whether the pattern names ref (a branch or tag).
func (p refPattern) matches(ref string) bool {
	switch {
	case p.full != "":
		return p.full == ref
	case !p.glob:
		return ref == headsPrefix+p.short || ref == tagsPrefix+p.short
	}
	short := strings.TrimPrefix(strings.TrimPrefix(ref, headsPrefix), tagsPrefix)
	ok, _ := path.Match(p.short, short)
	return ok && mirrorable(ref)
}

func (p refPattern) resolve(src map[string]plumbing.Hash) []string {
	if p.full != "" {
		if _, ok := src[p.full]; ok {
			return []string{p.full}
		}
		return nil
	}
	if !p.glob {
		for _, prefix := range []string{headsPrefix, tagsPrefix} {
			if _, ok := src[prefix+p.short]; ok {
				return []string{prefix + p.short}
			}
		}
		return nil
	}
	var out []string
	for name := range src {
		if !mirrorable(name) {
			continue
		}
		short := strings.TrimPrefix(strings.TrimPrefix(name, headsPrefix), tagsPrefix)
		if ok, _ := path.Match(p.short, short); ok {
			out = append(out, name)
		}
	}
	return out
}

// suggest lists a few of the source's branches for an error message.
func suggest(src map[string]plumbing.Hash) string {
	var names []string
	for name := range src {
		if strings.HasPrefix(name, headsPrefix) {
			names = append(names, strings.TrimPrefix(name, headsPrefix))
		}
	}
	if len(names) == 0 {
		return " (it has no branches)"
	}
	sort.Strings(names)
	more := ""
	if len(names) > 5 {
		names, more = names[:5], ", …"
	}
	return " (branches: " + strings.Join(names, ", ") + more + ")"
}
