package mirror

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// Result is what a sync did: every ref in scope with its action, old and new objects.
type Result struct {
	Source    string   `json:"source"`
	Dest      string   `json:"dest"`
	Changes   []Change `json:"changes"`
	Created   int      `json:"created"`
	Updated   int      `json:"updated"`
	Deleted   int      `json:"deleted"`
	Unchanged int      `json:"unchanged"`
	Kept      int      `json:"kept"`
	// Refused counts the refs refused as non-fast-forward (RefusedRefs).
	Refused int `json:"refused"`
	// Pushed is false for a dry run and for a sync with nothing to change.
	Pushed bool `json:"pushed"`
	// PushedRefs are the refs this sync wrote on the destination, sorted.
	PushedRefs []string `json:"pushedRefs"`
	// RefusedRefs are the refused changes, the protected refs first.
	RefusedRefs []Change `json:"refusedRefs"`
	// LFS is what happened to the Git LFS objects of the mirrored commits; nil when the commits
	// hold no LFS pointer.
	LFS    *LFSResult `json:"lfs,omitempty"`
	DryRun bool       `json:"dryRun,omitempty"`
	// Fetched is false when the cache already had every object needed.
	Fetched bool `json:"fetched"`
}

// Sync mirrors the branches and tags of src selected by o into dst and returns what changed.
//
// Every ref that can be updated safely is pushed, and those that would lose commits are refused:
// then Sync returns the result with ErrNonFastForward naming them (protected refs first). With
// o.Atomic a refusal stops the whole push. It returns ErrUnchanged (with the result) when there
// is nothing to push, and ErrLFSPointers when the commits to push hold Git LFS pointers and
// o.LFS is off; nothing is pushed in either case.
func Sync(ctx context.Context, src, dst Remote, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	var err error
	if src.URL, err = NormalizeURL(src.URL); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if dst.URL, err = NormalizeURL(dst.URL); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if cacheKey(src.URL) == cacheKey(dst.URL) {
		return nil, errdefs.Invalid(errors.New("source and destination are the same repository"))
	}
	g, err := newGit(&o)
	if err != nil {
		return nil, err
	}
	caBundle, err := o.readCA()
	if err != nil {
		return nil, err
	}
	if caBundle != nil {
		path, done, err := gitCAFile(g.env, caBundle)
		if err != nil {
			return nil, err
		}
		defer done()
		g.env = append(g.env, "GIT_SSL_CAINFO="+path)
	}
	c, err := openCache(ctx, g, o.CacheDir, src.URL, o.Logger)
	if err != nil {
		return nil, err
	}
	defer c.close()
	s := &syncer{git: g, cache: c, src: src, dst: dst, o: &o, caBundle: caBundle, applied: map[string]Change{}}
	for attempt := 1; ; attempt++ {
		res, err := s.once(ctx)
		var rej *rejection
		if !errors.As(err, &rej) {
			return res, err
		}
		if !rej.raced {
			return res, errdefs.WithHint(err, "check the destination's protected branches, push rules and hooks for the mirror's user")
		}
		if attempt >= o.Attempts {
			return res, errdefs.WithHint(fmt.Errorf("%w (the destination changed under each of %d attempts)", err, attempt),
				"another writer keeps updating the destination; run again later")
		}
		o.Logger.Warn("destination changed while pushing, planning again", "attempt", attempt, "reason", strings.Join(rej.refs, ", "))
	}
}

// syncer is one Sync: its git, its locked cache, both sides and the CA bundle of o.CAFile
// (read once, for every listing).
type syncer struct {
	git      *git
	cache    *cache
	src, dst Remote
	o        *Options
	caBundle []byte
	// srcHead is the source's default branch when the source was listed.
	srcHead string
	// applied are the changes pushed by earlier attempts of this Sync (a per-ref push whose
	// other refs lost a race), reported with the last attempt's result.
	applied map[string]Change
	// lfsHTTP is the HTTP client of the LFS transfers, made on first use.
	lfsHTTP *http.Client
	lfsOnce sync.Once
}

// once observes both sides, plans, fetches what the plan needs, plans again with ancestry,
// checks (and with o.LFS copies) the LFS objects of what it will push, pushes and records the
// state.
func (s *syncer) once(ctx context.Context) (*Result, error) {
	wanted, dst, fetched, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	st, err := readState(s.cache.dir)
	if err != nil {
		return nil, err
	}
	st.Source = s.src.URL
	in := planInput{src: wanted, dst: dst, known: st.known(s.dst.URL),
		all: s.o.All, tags: s.o.Tags, prune: s.o.Prune, force: s.o.Force}
	res := &Result{Source: s.src.URL, Dest: s.dst.URL, DryRun: s.o.DryRun, Fetched: fetched}
	p, err := makePlan(in)
	if err != nil {
		return nil, err
	}
	if p.needsObjects() || (s.o.LFS && !st.lfsCovers(s.dst.URL, wanted)) {
		if !res.Fetched {
			if in.src, err = s.fetch(ctx, s.exact(wanted)); err != nil {
				return nil, err
			}
			res.Fetched = true
		}
		if in.ff, err = s.cache.ancestry(); err != nil {
			return nil, err
		}
		if p, err = makePlan(in); err != nil {
			return nil, err
		}
	}
	res.set(p, s.applied)
	res.RefusedRefs = append([]Change{}, p.refused(s.protected(ctx, p))...)
	res.Refused = len(res.RefusedRefs)
	pending := p.pending()
	// A refusal stops everything with --atomic, and is all there is to say when nothing else
	// would change.
	if res.Refused > 0 && (s.o.Atomic || (len(pending) == 0 && len(s.applied) == 0)) {
		outcome := "nothing was pushed"
		if s.o.Atomic && len(pending) > 0 {
			outcome = fmt.Sprintf("nothing was pushed (atomic: %d other change(s) held back)", len(pending))
		}
		if !s.o.DryRun {
			st.record(s.dst.URL, p.changes, nil)
			if err := st.write(s.cache.dir); err != nil {
				return res, err
			}
		}
		return res, refusalError(res.RefusedRefs, outcome)
	}
	lfsCopied, err := s.syncLFS(ctx, p, pending, dst, st, res)
	if err != nil {
		return res, err
	}
	if len(pending) == 0 {
		if s.o.DryRun {
			if lfsCopied {
				return res, refusalError(res.RefusedRefs, "nothing was pushed (dry run)")
			}
		} else {
			st.record(s.dst.URL, p.changes, nil)
			if err := st.write(s.cache.dir); err != nil {
				return res, err
			}
			if lfsCopied || len(s.applied) > 0 {
				return res, refusalError(res.RefusedRefs, pushedOthers(len(s.applied)))
			}
		}
		return res, fmt.Errorf("%w: %s already has %s of %s", ErrUnchanged, s.dst.URL, describeScope(s.o, len(wanted)), s.src.URL)
	}
	if s.o.DryRun {
		return res, refusalError(res.RefusedRefs, "nothing was pushed (dry run)")
	}
	s.o.Logger.Info("pushing", "repo", s.dst.URL, "refs", len(pending))
	start := time.Now()
	applied, pushErr := s.push(ctx, pending)
	s.o.Logger.Debug("pushed", "took", time.Since(start), "refs", len(applied))
	for _, c := range pending {
		if applied[c.Ref] {
			s.applied[c.Ref] = c
		}
	}
	res.setPushed(s.applied)
	st.record(s.dst.URL, p.changes, applied)
	if err := st.write(s.cache.dir); err != nil && pushErr == nil {
		pushErr = err
	}
	if pushErr != nil {
		return res, pushErr
	}
	return res, refusalError(res.RefusedRefs, pushedOthers(len(s.applied)))
}

// protected returns the test for refs whose refusal matters most: those of o.Protected, else of
// o.Refs, else the source's default branch (which costs a listing of the source when it was
// fetched without one, and only when something is refused).
func (s *syncer) protected(ctx context.Context, p *plan) func(string) bool {
	patterns := s.o.Protected
	if len(patterns) == 0 {
		patterns = s.o.Refs
	}
	if len(patterns) == 0 {
		if len(p.refused(func(string) bool { return false })) == 0 {
			return func(string) bool { return false }
		}
		if s.srcHead == "" {
			if l, err := s.list(ctx, "source", s.src, transport.UploadPackServiceName); err == nil {
				s.srcHead = l.head
			} else {
				s.o.Logger.Debug("could not read the source's default branch", "error", err)
			}
		}
		patterns = []string{s.srcHead}
	}
	var parsed []refPattern
	for _, raw := range patterns {
		if rp, err := parseRefPattern(raw); err == nil {
			parsed = append(parsed, rp)
		}
	}
	return func(ref string) bool {
		for _, rp := range parsed {
			if rp.matches(ref) {
				return true
			}
		}
		return false
	}
}

// observe returns the source refs in scope, the destination's branches and tags, and whether the
// source refs were read from the cache after a fetch (so their objects are there).
//
// When the refs to fetch are known without listing the source (every branch, every tag, named
// branches), the fetch is the source's listing and runs alongside the destination's: the fetch is
// the long pole, and a no-change fetch costs what a listing does. If that fetch fails or misses a
// requested ref (a short name that is a tag), the source is listed with go-git instead, which also
// gives precise errors; the destination's listing is kept.
func (s *syncer) observe(ctx context.Context) (wanted, dst map[string]plumbing.Hash, fetched bool, err error) {
	var srcL, dstL *listing
	if exact, ok := s.guess(); ok {
		var refs map[string]plumbing.Hash
		var fetchErr, dstErr error
		refs, dstL, fetchErr, dstErr = s.fetchAlongside(ctx, exact)
		if dstErr != nil {
			return nil, nil, false, dstErr
		}
		if fetchErr == nil {
			if wanted, err := selectRefs(refs, "", s.o.Refs, s.o.All, s.o.Tags); err == nil {
				return wanted, dstL.refs, true, nil
			}
		}
		s.o.Logger.Debug("the early fetch did not bring every requested ref; listing the source", "error", fetchErr)
		if srcL, err = s.list(ctx, "source", s.src, transport.UploadPackServiceName); err != nil {
			return nil, nil, false, err
		}
	} else if srcL, dstL, err = s.listBoth(ctx); err != nil {
		return nil, nil, false, err
	}
	s.srcHead = srcL.head
	wanted, err = selectRefs(srcL.refs, srcL.head, s.o.Refs, s.o.All, s.o.Tags)
	if err != nil {
		return nil, nil, false, errdefs.WithHint(fmt.Errorf("source %s: %w", s.src.URL, err), "name branches or tags the source has")
	}
	return wanted, dstL.refs, false, nil
}

// fetchAlongside fetches while the destination is listed; a failed listing cancels the fetch.
func (s *syncer) fetchAlongside(ctx context.Context, exact []string) (refs map[string]plumbing.Hash, dstL *listing, fetchErr, dstErr error) {
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		refs, fetchErr = s.fetch(fetchCtx, exact)
	}()
	dstL, dstErr = s.list(ctx, "destination", s.dst, transport.ReceivePackServiceName)
	if dstErr != nil {
		cancel()
	}
	<-done
	return refs, dstL, fetchErr, dstErr
}

// listBoth reads both advertisements concurrently.
func (s *syncer) listBoth(ctx context.Context) (srcL, dstL *listing, err error) {
	start := time.Now()
	var wg sync.WaitGroup
	var srcErr, dstErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		srcL, srcErr = s.list(ctx, "source", s.src, transport.UploadPackServiceName)
	}()
	go func() {
		defer wg.Done()
		dstL, dstErr = s.list(ctx, "destination", s.dst, transport.ReceivePackServiceName)
	}()
	wg.Wait()
	if srcErr != nil {
		return nil, nil, srcErr
	}
	if dstErr != nil {
		return nil, nil, dstErr
	}
	s.o.Logger.Debug("listed refs", "source", len(srcL.refs), "destination", len(dstL.refs), "took", time.Since(start))
	return srcL, dstL, nil
}

func describeScope(o *Options, n int) string {
	switch {
	case o.All && o.Tags:
		return fmt.Sprintf("every branch and tag (%d refs)", n)
	case o.All:
		return fmt.Sprintf("every branch (%d)", n)
	case o.Tags && len(o.Refs) == 0:
		return fmt.Sprintf("every tag (%d)", n)
	case n == 1:
		return "the requested ref"
	}
	return fmt.Sprintf("the %d requested refs", n)
}

// set counts the plan's changes into a fresh Result. A change an earlier attempt pushed (so
// planned unchanged now) is reported as pushed.
func (r *Result) set(p *plan, applied map[string]Change) {
	for _, c := range p.changes {
		if a, ok := applied[c.Ref]; ok && c.Action == ActionUnchanged && a.New == c.New {
			c = a
		}
		switch c.Action {
		case ActionGone:
			continue
		case ActionCreate:
			r.Created++
		case ActionUpdate, ActionForce:
			r.Updated++
		case ActionDelete:
			r.Deleted++
		case ActionUnchanged:
			r.Unchanged++
		case ActionKept:
			r.Kept++
		}
		r.Changes = append(r.Changes, c)
	}
	r.setPushed(applied)
}

// setPushed lists the refs pushed so far.
func (r *Result) setPushed(applied map[string]Change) {
	r.PushedRefs = append([]string{}, slices.Sorted(maps.Keys(applied))...)
	r.Pushed = len(r.PushedRefs) > 0
}
