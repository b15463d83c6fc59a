package mirror

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

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
	// Pushed is false for a dry run and for a sync with nothing to change.
	Pushed bool `json:"pushed"`
	DryRun bool `json:"dryRun,omitempty"`
	// Fetched is false when the cache already had every object needed.
	Fetched bool `json:"fetched"`
}

// Sync mirrors the branches and tags of src selected by o into dst and returns what changed. It
// returns ErrUnchanged (with the result) when there is nothing to push, ErrNonFastForward when a
// ref would lose commits and o.Force is off, and nothing is pushed in either case.
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
	c, err := openCache(ctx, g, o.CacheDir, src.URL, o.Logger)
	if err != nil {
		return nil, err
	}
	defer c.close()
	s := &syncer{git: g, cache: c, src: src, dst: dst, o: &o}
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

// syncer is one Sync: its git, its locked cache and both sides.
type syncer struct {
	git      *git
	cache    *cache
	src, dst Remote
	o        *Options
}

// once lists both sides, plans, fetches what the plan needs, plans again with ancestry, pushes
// and records the state. When the refs to fetch are known without the listing (all branches, all
// tags, named branches), the fetch starts at once, alongside the listings: it is the long pole.
func (s *syncer) once(ctx context.Context) (*Result, error) {
	exact, early := s.guess()
	var fetched map[string]plumbing.Hash
	var fetchErr error
	fetchCtx, cancelFetch := context.WithCancel(ctx)
	defer cancelFetch()
	done := make(chan struct{})
	if early {
		go func() { defer close(done); fetched, fetchErr = s.fetch(fetchCtx, exact) }()
	} else {
		close(done)
	}
	srcL, dstL, err := s.list(ctx)
	if err != nil {
		cancelFetch()
		<-done
		return nil, err
	}
	<-done
	wanted, err := selectRefs(srcL.refs, srcL.head, s.o.Refs, s.o.All, s.o.Tags)
	if err != nil {
		return nil, errdefs.WithHint(fmt.Errorf("source %s: %w", s.src.URL, err), "check --ref (a branch or tag name of the source)")
	}
	st, err := readState(s.cache.dir)
	if err != nil {
		return nil, err
	}
	st.Source = s.src.URL
	in := planInput{src: wanted, dst: dstL.refs, known: st.known(s.dst.URL),
		all: s.o.All, tags: s.o.Tags, prune: s.o.Prune, force: s.o.Force}
	res := &Result{Source: s.src.URL, Dest: s.dst.URL, DryRun: s.o.DryRun}
	switch {
	case early && fetchErr == nil && s.complete(fetched, wanted):
		in.src, res.Fetched = fetched, true
	case early:
		s.o.Logger.Debug("early fetch did not bring every ref; fetching the listed ones", "error", fetchErr)
	}
	p, err := makePlan(in)
	if err != nil {
		return nil, err
	}
	if p.needsObjects() {
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
	res.set(p)
	if err := p.refused(); err != nil {
		return res, errdefs.WithHint(err, "the destination would lose commits; re-run with --force to overwrite (still only if unchanged since planned)")
	}
	pending := p.pending()
	if len(pending) == 0 || s.o.DryRun {
		if len(pending) == 0 && !s.o.DryRun {
			st.record(s.dst.URL, p)
			if err := st.write(s.cache.dir); err != nil {
				return res, err
			}
		}
		if len(pending) == 0 {
			return res, fmt.Errorf("%w: %s already has %s of %s", ErrUnchanged, s.dst.URL, describeScope(s.o, len(wanted)), s.src.URL)
		}
		return res, nil
	}
	s.o.Logger.Info("pushing", "repo", s.dst.URL, "refs", len(pending))
	if err := s.push(ctx, pending); err != nil {
		return res, err
	}
	res.Pushed = true
	st.record(s.dst.URL, p)
	return res, st.write(s.cache.dir)
}

// list reads both advertisements concurrently.
func (s *syncer) list(ctx context.Context) (srcL, dstL *listing, err error) {
	var wg sync.WaitGroup
	var srcErr, dstErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		srcL, srcErr = list(ctx, "source", s.src, transport.UploadPackServiceName, s.o)
	}()
	go func() {
		defer wg.Done()
		dstL, dstErr = list(ctx, "destination", s.dst, transport.ReceivePackServiceName, s.o)
	}()
	wg.Wait()
	if srcErr != nil {
		return nil, nil, srcErr
	}
	if dstErr != nil {
		return nil, nil, dstErr
	}
	s.o.Logger.Debug("listed refs", "source", len(srcL.refs), "destination", len(dstL.refs))
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

func (r *Result) set(p *plan) {
	r.Changes = nil
	r.Created, r.Updated, r.Deleted, r.Unchanged, r.Kept = 0, 0, 0, 0, 0
	for _, c := range p.changes {
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
}
