package mirror

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func h(c byte) plumbing.Hash { return plumbing.NewHash(strings.Repeat(string(c), 40)) }

func TestMakePlan(t *testing.T) {
	t.Parallel()
	ffOnly := func(old, new plumbing.Hash) (bool, string, error) {
		return old == h('1') && new == h('2'), "the histories diverged", nil
	}
	tests := []struct {
		name string
		in   planInput
		want []Change
	}{{
		name: "create, unchanged, fast-forward",
		in: planInput{
			src: map[string]plumbing.Hash{"refs/heads/new": h('a'), "refs/heads/same": h('b'), "refs/heads/main": h('2')},
			dst: map[string]plumbing.Hash{"refs/heads/same": h('b'), "refs/heads/main": h('1')},
			ff:  ffOnly,
		},
		want: []Change{
			{Ref: "refs/heads/main", Action: ActionUpdate, Old: h('1').String(), New: h('2').String()},
			{Ref: "refs/heads/new", Action: ActionCreate, New: h('a').String()},
			{Ref: "refs/heads/same", Action: ActionUnchanged, Old: h('b').String(), New: h('b').String()},
		},
	}, {
		name: "non-fast-forward refused, or forced",
		in: planInput{
			src: map[string]plumbing.Hash{"refs/heads/main": h('3'), "refs/tags/v1": h('4')},
			dst: map[string]plumbing.Hash{"refs/heads/main": h('1'), "refs/tags/v1": h('5')},
			ff:  ffOnly,
		},
		want: []Change{
			{Ref: "refs/heads/main", Action: ActionRefused, Old: h('1').String(), New: h('3').String(), Reason: "the histories diverged"},
			{Ref: "refs/tags/v1", Action: ActionRefused, Old: h('5').String(), New: h('4').String(), Reason: "the tag exists on the destination with another object"},
		},
	}, {
		name: "ancestry unknown: tentative update",
		in: planInput{
			src: map[string]plumbing.Hash{"refs/heads/main": h('3')},
			dst: map[string]plumbing.Hash{"refs/heads/main": h('1')},
		},
		want: []Change{{Ref: "refs/heads/main", Action: ActionUpdate, Old: h('1').String(), New: h('3').String()}},
	}, {
		name: "prune: mirrored and unchanged deleted, changed kept, internal untouched, out of scope untouched",
		in: planInput{
			src: map[string]plumbing.Hash{"refs/heads/main": h('1')},
			dst: map[string]plumbing.Hash{
				"refs/heads/main": h('1'), "refs/heads/gone": h('6'), "refs/heads/changed": h('8'),
				"refs/heads/internal": h('9'), "refs/tags/old": h('7'),
			},
			known: map[string]string{"refs/heads/main": h('1').String(), "refs/heads/gone": h('6').String(),
				"refs/heads/changed": h('7').String(), "refs/tags/old": h('7').String(), "refs/heads/vanished": h('5').String()},
			all: true, prune: true, ff: ffOnly,
		},
		want: []Change{
			{Ref: "refs/heads/changed", Action: ActionKept, Old: h('8').String(), Reason: "deleted in the source, but changed on the destination since it was mirrored (77777777)"},
			{Ref: "refs/heads/gone", Action: ActionDelete, Old: h('6').String(), Reason: "deleted in the source"},
			{Ref: "refs/heads/main", Action: ActionUnchanged, Old: h('1').String(), New: h('1').String()},
			{Ref: "refs/heads/vanished", Action: ActionGone},
		},
	}, {
		name: "no prune: nothing deleted",
		in: planInput{
			src:   map[string]plumbing.Hash{},
			dst:   map[string]plumbing.Hash{"refs/heads/gone": h('6')},
			known: map[string]string{"refs/heads/gone": h('6').String()},
			all:   true,
		},
		want: nil,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := makePlan(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.changes); diff != "" {
				t.Errorf("makePlan() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMakePlanForce(t *testing.T) {
	t.Parallel()
	in := planInput{
		src:   map[string]plumbing.Hash{"refs/heads/main": h('3')},
		dst:   map[string]plumbing.Hash{"refs/heads/main": h('1')},
		force: true,
		ff:    func(_, _ plumbing.Hash) (bool, string, error) { return false, "the histories diverged", nil },
	}
	p, err := makePlan(in)
	none := func(string) bool { return false }
	if err != nil || p.refused(none) != nil {
		t.Fatalf("makePlan() = %v, refused %v", err, p.refused(none))
	}
	if got := p.pending(); len(got) != 1 || got[0].Action != ActionForce {
		t.Errorf("pending() = %+v, want one force-update", got)
	}
}

func TestRefusedNamesEveryRefProtectedFirst(t *testing.T) {
	t.Parallel()
	p := &plan{changes: []Change{
		{Ref: "refs/heads/a", Action: ActionRefused, Old: h('1').String(), New: h('2').String(), Reason: "r1"},
		{Ref: "refs/heads/b", Action: ActionUpdate},
		{Ref: "refs/heads/main", Action: ActionRefused, Old: h('5').String(), New: h('6').String(), Reason: "r3"},
		{Ref: "refs/tags/c", Action: ActionRefused, Old: h('3').String(), New: h('4').String(), Reason: "r2"},
	}}
	main, _ := parseRefPattern("main")
	refused := p.refused(main.matches)
	var order []string
	for _, c := range refused {
		order = append(order, c.Ref)
	}
	if want := []string{"refs/heads/main", "refs/heads/a", "refs/tags/c"}; !slices.Equal(order, want) || !refused[0].Protected || refused[1].Protected {
		t.Errorf("refused() = %+v, want %v with main protected", refused, want)
	}
	err := refusalError(refused, pushedOthers(1))
	want := "non-fast-forward: refusing to update refs/heads/main [deploy ref] 55555555→66666666 (r3), refs/heads/a 11111111→22222222 (r1), refs/tags/c 33333333→44444444 (r2); the 1 other change was pushed"
	if !errors.Is(err, ErrNonFastForward) || err.Error() != want {
		t.Errorf("refusalError() = %v, want %s", err, want)
	}
	if refusalError(nil, "x") != nil {
		t.Errorf("refusalError(nothing refused) != nil")
	}
}

func TestPushArgs(t *testing.T) {
	t.Parallel()
	changes := []Change{
		{Ref: "refs/heads/new", Action: ActionCreate, New: h('a').String()},
		{Ref: "refs/heads/main", Action: ActionUpdate, Old: h('1').String(), New: h('2').String()},
		{Ref: "refs/heads/x", Action: ActionForce, Old: h('3').String(), New: h('4').String()},
		{Ref: "refs/tags/old", Action: ActionDelete, Old: h('5').String()},
	}
	got := pushArgs("https://gitlab.internal/g/app.git", changes, &Options{PushOptions: []string{"ci.skip"}, Atomic: true})
	want := []string{"push", "--porcelain", "--atomic", "--no-verify", "--quiet", "--push-option=ci.skip",
		"--force-with-lease=refs/heads/main:" + h('1').String(),
		"--force-with-lease=refs/heads/x:" + h('3').String(),
		"--force-with-lease=refs/tags/old:" + h('5').String(),
		"https://gitlab.internal/g/app.git",
		h('a').String() + ":refs/heads/new", h('2').String() + ":refs/heads/main", h('4').String() + ":refs/heads/x", ":refs/tags/old"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pushArgs() (-want +got):\n%s", diff)
	}
	// Per ref (the default): the same push without --atomic.
	perRef := pushArgs("https://gitlab.internal/g/app.git", changes, &Options{PushOptions: []string{"ci.skip"}})
	if diff := cmp.Diff(slices.Delete(slices.Clone(want), 2, 3), perRef); diff != "" {
		t.Errorf("pushArgs(per ref) (-want +got):\n%s", diff)
	}
}

func TestParsePorcelain(t *testing.T) {
	t.Parallel()
	out := "To https://gitlab.internal/g/app.git\n" +
		"!\t2222:refs/heads/main\t[rejected] (stale info)\n" +
		"!\t:refs/tags/old\t[rejected] (atomic push failed)\n" +
		"*\taaaa:refs/heads/new\t[new branch]\nDone\n"
	want := []pushed{
		{flag: '!', ref: "refs/heads/main", summary: "[rejected] (stale info)"},
		{flag: '!', ref: "refs/tags/old", summary: "[rejected] (atomic push failed)"},
		{flag: '*', ref: "refs/heads/new", summary: "[new branch]"},
	}
	if diff := cmp.Diff(want, parsePorcelain(out), cmp.AllowUnexported(pushed{})); diff != "" {
		t.Errorf("parsePorcelain() (-want +got):\n%s", diff)
	}
}

func TestCachePathIgnoresSpelling(t *testing.T) {
	t.Parallel()
	a := CachePath("/c", "https://GitHub.com/org/app.git")
	for _, u := range []string{"https://github.com/org/app", "https://github.com/org/app/", "https://user:tok@github.com/org/app.git"} {
		if got := CachePath("/c", u); got != a {
			t.Errorf("CachePath(%q) = %s, want %s", u, got, a)
		}
	}
	if CachePath("/c", "https://github.com/org/other") == a {
		t.Errorf("two repositories share a cache")
	}
}
