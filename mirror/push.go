package mirror

import (
	"context"
	"fmt"
	"strings"
)

// pushArgs builds one push of the pending changes: per ref (each ref succeeds or fails on its
// own), or with --atomic when o.Atomic (all or nothing). Updates, forced updates and deletions
// carry the destination value they were planned against (--force-with-lease=ref:old), which also
// lets a planned non-fast-forward through and nothing else; creations are plain refspecs, which
// git and the server refuse if the ref appeared meanwhile with a value that is not an ancestor.
// Sources are object ids, so the cache's own refs never matter.
func pushArgs(url string, changes []Change, o *Options) []string {
	args := []string{"push", "--porcelain"}
	if o.Atomic {
		args = append(args, "--atomic")
	}
	args = append(args, "--no-verify")
	if o.Progress != nil {
		args = append(args, "--progress")
	} else {
		args = append(args, "--quiet")
	}
	for _, opt := range o.PushOptions {
		args = append(args, "--push-option="+opt)
	}
	var specs []string
	for _, c := range changes {
		switch c.Action {
		case ActionCreate:
			specs = append(specs, c.New+":"+c.Ref)
		case ActionUpdate, ActionForce:
			args = append(args, "--force-with-lease="+c.Ref+":"+c.Old)
			specs = append(specs, c.New+":"+c.Ref)
		case ActionDelete:
			args = append(args, "--force-with-lease="+c.Ref+":"+c.Old)
			specs = append(specs, ":"+c.Ref)
		}
	}
	return append(append(args, url), specs...)
}

// pushed is one line of `git push --porcelain`: flag, ref and summary.
// https://git-scm.com/docs/git-push#_output
type pushed struct {
	flag    byte
	ref     string
	summary string
}

func parsePorcelain(out string) []pushed {
	var res []pushed
	for _, line := range strings.Split(out, "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) < 3 || len(parts[0]) != 1 {
			continue
		}
		_, dst, _ := strings.Cut(parts[1], ":")
		res = append(res, pushed{flag: parts[0][0], ref: dst, summary: parts[2]})
	}
	return res
}

// ok reports whether git updated (or already had) the ref.
func (p pushed) ok() bool {
	switch p.flag {
	case ' ', '+', '-', '*', '=':
		return true
	}
	return false
}

// rejection is a push the destination refused, with git's reason per ref. Lost races (a lease
// that no longer matches, a server-side atomic transaction that failed because a ref moved) are
// retried after planning again; anything else (protected branch, hook) is final. Without
// --atomic the other refs of the push went through (applied).
type rejection struct {
	dest    string
	refs    []string
	raced   bool
	atomic  bool
	applied int
}

func (r *rejection) Error() string {
	outcome := "nothing was changed (atomic push)"
	if !r.atomic {
		outcome = pushedOthers(r.applied)
	}
	return fmt.Sprintf("%s by %s: %s; %s", ErrRejected.Error(), r.dest, strings.Join(r.refs, ", "), outcome)
}

// pushedOthers says how many other changes a partly refused sync pushed.
func pushedOthers(n int) string {
	switch n {
	case 0:
		return "nothing was pushed"
	case 1:
		return "the 1 other change was pushed"
	}
	return fmt.Sprintf("the %d other changes were pushed", n)
}

func (r *rejection) Unwrap() error { return ErrRejected }

// push runs the push, returns the refs it changed and classifies its failures. An atomic push
// that fails changed nothing; a per-ref push changed the refs git reports as done.
func (s *syncer) push(ctx context.Context, changes []Change) (applied map[string]bool, err error) {
	out, err := s.git.run(ctx, s.cache.dir, s.dst.Credentials, nil, pushArgs(s.dst.URL, changes, s.o)...)
	applied = map[string]bool{}
	if err == nil {
		for _, c := range changes {
			applied[c.Ref] = true
		}
		return applied, nil
	}
	rej := &rejection{dest: s.dst.URL, atomic: s.o.Atomic}
	final := false
	for _, p := range parsePorcelain(out) {
		if p.ok() && !s.o.Atomic {
			applied[p.ref] = true
		}
		if p.flag != '!' {
			continue
		}
		// git's porcelain summaries are its only report of why a ref was rejected.
		switch {
		case strings.Contains(p.summary, "atomic push failed"):
			continue // collateral of another ref's rejection, reported there
		case racedSummary(p.summary):
			rej.raced = true
		default:
			final = true
		}
		rej.refs = append(rej.refs, p.ref+" "+p.summary)
	}
	if len(rej.refs) == 0 {
		return applied, classifyTransfer("pushing to destination", s.dst.URL, err)
	}
	rej.raced = rej.raced && !final
	rej.applied = len(applied)
	return applied, rej
}

// racedSummary reports whether a rejection means another writer changed the ref after it was
// listed: git's client-side lease and fast-forward checks, and receive-pack's own compare-and-
// swap (GitLab words it "incorrect old value provided").
func racedSummary(s string) bool {
	for _, m := range []string{"stale info", "fetch first", "non-fast-forward", "already exists",
		"incorrect old value", "cannot lock ref", "atomic transaction failed", "failed to update ref"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
