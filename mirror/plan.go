package mirror

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Action is what a sync does (or refuses to do) to one destination ref.
type Action string

// The actions of a plan.
const (
	// ActionCreate creates a ref the destination lacks.
	ActionCreate Action = "create"
	// ActionUpdate fast-forwards a branch.
	ActionUpdate Action = "update"
	// ActionForce moves a branch backwards or sideways, or moves a tag (Options.Force only).
	ActionForce Action = "force-update"
	// ActionDelete deletes a ref the source no longer has (Options.Prune only).
	ActionDelete Action = "delete"
	// ActionUnchanged: the destination already has the source's object.
	ActionUnchanged Action = "unchanged"
	// ActionRefused: a non-fast-forward update refused for lack of Options.Force.
	ActionRefused Action = "refused"
	// ActionKept: a ref the source no longer has, kept because the destination changed it
	// since it was mirrored.
	ActionKept Action = "kept"
	// ActionGone: a mirrored ref that neither side has any more; only forgotten from the state.
	ActionGone Action = "gone"
)

// Change is the plan (and after a push, the outcome) for one ref.
type Change struct {
	Ref    string `json:"ref"`
	Action Action `json:"action"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Protected marks a refused ref that deploys depend on (Options.Protected): refusals list
	// them first.
	Protected bool `json:"protected,omitempty"`
}

// pending reports whether the change needs a push.
func (c Change) pending() bool {
	switch c.Action {
	case ActionCreate, ActionUpdate, ActionForce, ActionDelete:
		return true
	}
	return false
}

// plan is every change of one sync, sorted by ref.
type plan struct {
	changes []Change
}

// fastForward reports whether moving a destination branch from old to new keeps every commit it
// had, and why not otherwise.
type fastForward func(old, new plumbing.Hash) (ok bool, reason string, err error)

// planInput is everything a plan is computed from; the plan itself does no I/O.
type planInput struct {
	src       map[string]plumbing.Hash // source refs in scope
	dst       map[string]plumbing.Hash // destination branches and tags
	known     map[string]string        // refs mirrored to this destination before
	all, tags bool                     // prune scope
	prune     bool
	force     bool
	ff        fastForward // nil: ancestry unknown yet (objects not fetched)
}

func makePlan(in planInput) (*plan, error) {
	p := &plan{}
	for _, ref := range slices.Sorted(maps.Keys(in.src)) {
		c, err := in.change(ref, in.src[ref])
		if err != nil {
			return nil, err
		}
		p.changes = append(p.changes, c)
	}
	inScope := func(ref string) bool { return inNamespaces(ref, in.all, in.tags) }
	for _, ref := range slices.Sorted(maps.Keys(in.dst)) {
		old := in.dst[ref]
		rec, known := in.known[ref]
		if _, ok := in.src[ref]; ok || !in.prune || !inScope(ref) || !known {
			continue // in the source, pruning off, or internal-only: never touched
		}
		if rec == old.String() {
			p.changes = append(p.changes, Change{Ref: ref, Action: ActionDelete, Old: rec, Reason: "deleted in the source"})
			continue
		}
		p.changes = append(p.changes, Change{Ref: ref, Action: ActionKept, Old: old.String(),
			Reason: "deleted in the source, but changed on the destination since it was mirrored (" + short(rec) + ")"})
	}
	for _, ref := range slices.Sorted(maps.Keys(in.known)) {
		_, inSrc := in.src[ref]
		_, inDst := in.dst[ref]
		if !inSrc && !inDst && inScope(ref) {
			p.changes = append(p.changes, Change{Ref: ref, Action: ActionGone})
		}
	}
	sort.SliceStable(p.changes, func(i, j int) bool { return p.changes[i].Ref < p.changes[j].Ref })
	return p, nil
}

// change plans one source ref.
func (in planInput) change(ref string, h plumbing.Hash) (Change, error) {
	c := Change{Ref: ref, New: h.String()}
	old, exists := in.dst[ref]
	if exists {
		c.Old = old.String()
	}
	switch {
	case !exists:
		c.Action = ActionCreate
	case old == h:
		c.Action = ActionUnchanged
	case strings.HasPrefix(ref, tagsPrefix):
		c.Action, c.Reason = in.refuse("the tag exists on the destination with another object")
	case in.ff == nil:
		c.Action = ActionUpdate // tentative: ancestry is checked once the objects are fetched
	default:
		ok, reason, err := in.ff(old, h)
		if err != nil {
			return c, fmt.Errorf("checking %s: %w", ref, err)
		}
		c.Action = ActionUpdate
		if !ok {
			c.Action, c.Reason = in.refuse(reason)
		}
	}
	return c, nil
}

func (in planInput) refuse(reason string) (Action, string) {
	if in.force {
		return ActionForce, reason
	}
	return ActionRefused, reason
}

// needsObjects reports whether the plan creates or moves refs, so the source's objects must be
// fetched (and ancestry checked) before it can be pushed.
func (p *plan) needsObjects() bool {
	for _, c := range p.changes {
		switch c.Action {
		case ActionCreate, ActionUpdate, ActionForce, ActionRefused:
			return true
		}
	}
	return false
}

func (p *plan) pending() []Change {
	var out []Change
	for _, c := range p.changes {
		if c.pending() {
			out = append(out, c)
		}
	}
	return out
}

// refused returns the refused changes, the protected ones first, each group sorted by ref.
func (p *plan) refused(protected func(ref string) bool) []Change {
	var out []Change
	for _, c := range p.changes {
		if c.Action == ActionRefused {
			c.Protected = protected(c.Ref)
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Protected && !out[j].Protected })
	return out
}

// refusalError names every refused ref, protected ones first, and what happened to the others;
// nil when nothing was refused.
func refusalError(refused []Change, outcome string) error {
	if len(refused) == 0 {
		return nil
	}
	parts := make([]string, len(refused))
	for i, c := range refused {
		mark := ""
		if c.Protected {
			mark = " [deploy ref]"
		}
		parts[i] = fmt.Sprintf("%s%s %s→%s (%s)", c.Ref, mark, short(c.Old), short(c.New), c.Reason)
	}
	return fmt.Errorf("%w: refusing to update %s; %s", ErrNonFastForward, strings.Join(parts, ", "), outcome)
}

func short(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}
