package reconcile

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/reconcile/render"
)

// TestHookBatches: within a wave, the Argo CD hooks (by kind and name, as gitops-engine sorts
// its tasks) run together, before the Helm hooks, which run one at a time in Helm's order:
// weight, then name, then kind (execHook's stable sort by weight and name over the kind order).
func TestHookBatches(t *testing.T) {
	t.Parallel()
	mk := func(origin string, phase hookPhase, wave int, kind, name string) *hook {
		return &hook{phase: phase, wave: wave, origin: origin,
			res: &resource{obj: mustObject(t, "{apiVersion: v1, kind: "+kind+", metadata: {name: "+name+"}}")}}
	}
	hooks := []*hook{
		mk("argocd PreSync", phasePreSync, 0, "Job", "b"),
		mk("helm pre-install", phasePreSync, 0, "Job", "c"),
		mk("argocd PreSync", phasePreSync, 0, "ConfigMap", "z"),
		mk("helm pre-upgrade", phasePreSync, 0, "ConfigMap", "d"),
		mk("argocd PostSync", phasePostSync, 0, "Job", "f"),
		mk("argocd PreSync", phasePreSync, 0, "Job", "a"),
		mk("helm pre-install", phasePreSync, 0, "Secret", "c"),
		mk("argocd PreSync", phasePreSync, 1, "Job", "e"),
	}
	sort.SliceStable(hooks, func(i, j int) bool { return hookLess(hooks[i], hooks[j]) })
	var got []string
	for _, b := range hookBatches(hooks) {
		var names []string
		for _, h := range b {
			names = append(names, h.res.obj.GetKind()+"/"+h.res.obj.GetName())
		}
		got = append(got, strings.Join(names, " "))
	}
	want := []string{"ConfigMap/z Job/a Job/b", "Secret/c", "Job/c", "ConfigMap/d", "Job/e", "Job/f"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hook batches (-want +got):\n%s", diff)
	}
}

// TestHooksGuard: a hook that would run with a spec the last successful sync did not run is
// work ("changed" when one of its name ran, else "new"); hooks that run again unchanged are named
// in the refusal; SyncFail hooks never count, PostSync ones only when the sync waits; hooks: skip
// runs none.
func TestHooksGuard(t *testing.T) {
	t.Parallel()
	pre := &hook{phase: phasePreSync, spec: "PreSync Job/migrate h1"}
	post := &hook{phase: phasePostSync, spec: "PostSync Job/notify-* h2"}
	fail := &hook{phase: phaseSyncFail, spec: "SyncFail Job/cleanup h3"}
	plan := &hookPlan{hooks: []*hook{pre, post, fail}}
	for _, tc := range []struct {
		name      string
		plan      *hookPlan
		last      []string
		noWait    bool
		why, note string
	}{
		{name: "all ran as they are", plan: plan, last: []string{pre.spec, post.spec, fail.spec},
			note: "hooks unchanged since the last successful sync: PreSync Job/migrate, PostSync Job/notify-*"},
		{name: "a changed command", plan: plan, last: []string{"PreSync Job/migrate h0", post.spec},
			why: "not a no-op: hooks: PreSync Job/migrate changed"},
		{name: "never ran", plan: plan,
			why: "not a no-op: hooks: PreSync Job/migrate new, PostSync Job/notify-* new"},
		{name: "PostSync does not run without the wait", plan: plan, last: []string{pre.spec}, noWait: true,
			note: "hooks unchanged since the last successful sync: PreSync Job/migrate"},
		{name: "SyncFail does not count", plan: plan, last: []string{pre.spec, post.spec, "SyncFail Job/cleanup h0"},
			note: "hooks unchanged since the last successful sync: PreSync Job/migrate, PostSync Job/notify-*"},
		{name: "hooks: skip", plan: &hookPlan{hooks: plan.hooks, skip: true}},
		{name: "no hooks", plan: nil, last: []string{pre.spec}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			why, note := hooksGuard(tc.plan, tc.last, tc.noWait)
			if why != tc.why || note != tc.note {
				t.Errorf("hooksGuard() = %q, %q; want %q, %q", why, note, tc.why, tc.note)
			}
		})
	}
	pre.ran, fail.ran = true, true
	if got, want := plan.ranSpecs(), []string{pre.spec, fail.spec}; !cmp.Equal(got, want) {
		t.Errorf("ranSpecs() = %q, want %q", got, want)
	}
}

// TestHookSpec: a hook's spec names its phase, kind and name (generateName+"*" for a hook named
// per run) and changes with what is rendered, not with the name a run gives it.
func TestHookSpec(t *testing.T) {
	t.Parallel()
	job := func(args string) hookCandidate {
		return hookCandidate{obj: render.Object{Object: mustObject(t, "{apiVersion: batch/v1, kind: Job, metadata: {generateName: migrate-, annotations: {argocd.argoproj.io/hook: PreSync}}, spec: {template: {spec: {containers: [{name: m, image: m, args: "+args+"}]}}}}"), Source: "migrate.yaml"}}
	}
	spec := func(c hookCandidate) string {
		hs, _, err := hooksOf(c)
		if err != nil || len(hs) != 1 {
			t.Fatalf("hooksOf() = %v, %v", hs, err)
		}
		hs[0].res.obj.SetName("migrate-0123abcd-presync-1700000000")
		return hs[0].spec
	}
	a, again, b := spec(job("[up, '1']")), spec(job("[up, '1']")), spec(job("[up, '2']"))
	if !strings.HasPrefix(a, "PreSync Job/migrate-* ") || a != again || a == b {
		t.Errorf("specs %q, %q (same render), %q (new args): want PreSync Job/migrate-* equal for the same render only", a, again, b)
	}
	e := &HookError{Hook: "Job/ns/a", Phase: "PreSync (argocd PreSync), wave 0", Reason: "DeadlineExceeded", Also: []string{"Job/ns/b"}}
	if got := e.Error(); !strings.HasSuffix(got, "; also failed in this wave: Job/ns/b") {
		t.Errorf("HookError = %q; want the other failed hooks of the wave named", got)
	}
}
