package reconcile

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagrelay/tagrelay/reconcile/render"
)

// TestHooksOf: Helm's and Argo CD's annotations map onto phases, waves and delete policies as
// Argo CD maps them; what is not run is said; bad annotations are input errors.
func TestHooksOf(t *testing.T) {
	t.Parallel()
	job := func(ann string) *render.Object {
		return &render.Object{Object: mustObject(t, "{apiVersion: batch/v1, kind: Job, metadata: {name: j, annotations: "+ann+"}}"), Source: "j.yaml"}
	}
	for _, tc := range []struct {
		name    string
		c       hookCandidate
		want    []string // "phase wave policies origin"
		notRun  string
		wantErr string
	}{
		{name: "helm pre-install,pre-upgrade: one PreSync, before-hook-creation by default",
			c:    hookCandidate{obj: *job("{}"), helmEvents: []string{"pre-install", "pre-upgrade"}, helmWeight: -2},
			want: []string{"PreSync -2 BeforeHookCreation helm pre-install"}},
		{name: "helm post-upgrade with hook-succeeded",
			c:    hookCandidate{obj: *job("{}"), helmEvents: []string{"post-upgrade"}, helmPolicy: []string{"hook-succeeded"}},
			want: []string{"PostSync 0 HookSucceeded helm post-upgrade"}},
		{name: "helm pre and post: two phases",
			c:    hookCandidate{obj: *job("{}"), helmEvents: []string{"pre-upgrade", "post-upgrade"}},
			want: []string{"PreSync 0 BeforeHookCreation helm pre-upgrade", "PostSync 0 BeforeHookCreation helm post-upgrade"}},
		{name: "helm test is not run",
			c:      hookCandidate{obj: *job("{}"), helmEvents: []string{"test"}},
			notRun: "Job/j (helm test): test hooks are not run"},
		{name: "helm pre-delete is not run",
			c:      hookCandidate{obj: *job("{}"), helmEvents: []string{"pre-delete"}},
			notRun: "does not delete or roll back"},
		{name: "argocd wins over helm",
			c:    hookCandidate{obj: *job(`{argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: "3"}`), helmEvents: []string{"pre-install"}},
			want: []string{"Sync 3  argocd Sync"}},
		{name: "argocd PreSync,PostSync with policies",
			c:    hookCandidate{obj: *job(`{argocd.argoproj.io/hook: "PreSync, PostSync", argocd.argoproj.io/hook-delete-policy: "HookSucceeded,HookFailed"}`)},
			want: []string{"PreSync 0 HookFailed,HookSucceeded argocd PreSync", "PostSync 0 HookFailed,HookSucceeded argocd PostSync"}},
		{name: "argocd PostDelete is not run",
			c:      hookCandidate{obj: *job(`{argocd.argoproj.io/hook: PostDelete}`)},
			notRun: "Job/j (argocd PostDelete): not run"},
		{name: "unknown argocd phase", c: hookCandidate{obj: *job(`{argocd.argoproj.io/hook: PreSyncc}`)}, wantErr: `unknown argocd.argoproj.io/hook "PreSyncc"`},
		{name: "unknown policy", c: hookCandidate{obj: *job(`{argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: Never}`)}, wantErr: "unknown argocd.argoproj.io/hook-delete-policy"},
		{name: "wave not an integer", c: hookCandidate{obj: *job(`{argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/sync-wave: "one"}`)}, wantErr: "is not an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hooks, notRun, err := hooksOf(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("hooksOf() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hooks {
				var ps []string
				for p := range h.policies {
					ps = append(ps, p)
				}
				sort.Strings(ps)
				got = append(got, strings.Join([]string{string(h.phase), itoa(h.wave), strings.Join(ps, ","), h.origin}, " "))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("hooksOf() (-want +got):\n%s", diff)
			}
			if tc.notRun != "" && (len(notRun) != 1 || !strings.Contains(notRun[0], tc.notRun)) {
				t.Errorf("hooksOf() not run = %q, want %q", notRun, tc.notRun)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestHookOrderAndNames: hooks sort by phase, wave, Helm's kind order and name; generated names
// fit a Job's 63 characters.
func TestHookOrderAndNames(t *testing.T) {
	t.Parallel()
	mk := func(phase hookPhase, wave int, kind, name string) *hook {
		return &hook{phase: phase, wave: wave, res: &resource{obj: mustObject(t, "{apiVersion: v1, kind: "+kind+", metadata: {name: "+name+"}}")}}
	}
	hooks := []*hook{mk(phasePostSync, -5, "Job", "a"), mk(phasePreSync, 1, "Job", "b"), mk(phasePreSync, 1, "ConfigMap", "z"),
		mk(phasePreSync, -1, "Job", "c"), mk(phaseSyncFail, 0, "Job", "d"), mk(phasePreSync, 1, "Job", "a")}
	sort.SliceStable(hooks, func(i, j int) bool { return hookLess(hooks[i], hooks[j]) })
	var got []string
	for _, h := range hooks {
		got = append(got, string(h.phase)+"/"+h.res.obj.GetName())
	}
	want := []string{"PreSync/c", "PreSync/z", "PreSync/a", "PreSync/b", "PostSync/a", "SyncFail/d"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hook order (-want +got):\n%s", diff)
	}
	n := generatedName(strings.Repeat("x", 80)+"-", "0123456789abcdef", phasePreSync, time.Unix(1700000000, 0))
	if len(n) > 63 || !strings.HasSuffix(n, "01234567-presync-1700000000") {
		t.Errorf("generatedName() = %q (%d chars), want at most 63 ending in the revision, phase and time", n, len(n))
	}
}
