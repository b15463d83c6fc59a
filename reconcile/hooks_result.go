package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// summary says, for the result, which hooks were skipped or not run; "" when none.
func (p *hookPlan) summary() string {
	if p == nil {
		return ""
	}
	var out []string
	if p.skip && len(p.hooks) > 0 {
		names := make([]string, len(p.hooks))
		for i, h := range p.hooks {
			names[i] = fmt.Sprintf("%s (%s)", h.res, h.phase)
		}
		out = append(out, fmt.Sprintf("%d hook(s) skipped (hooks: skip): %s", len(p.hooks), shortList(names)))
	}
	if len(p.notRun) > 0 {
		out = append(out, fmt.Sprintf("%d hook(s) not run: %s", len(p.notRun), shortList(p.notRun)))
	}
	return strings.Join(out, "; ")
}

// skippedChanges lists the hooks of hooks: skip as result objects.
func (p *hookPlan) skippedChanges() []api.ObjectChange {
	if p == nil || !p.skip {
		return nil
	}
	out := make([]api.ObjectChange, 0, len(p.hooks))
	for _, h := range p.hooks {
		out = append(out, api.ObjectChange{Object: h.String(), Action: api.ActionHookSkipped, Reason: h.describe() + ": hooks: skip"})
	}
	return out
}

func shortList(items []string) string {
	const shown = 5
	if len(items) <= shown {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:shown], ", ") + fmt.Sprintf(" and %d more", len(items)-shown)
}

// planned says, for a dry run, which hooks a sync would run; "" when none.
func (p *hookPlan) planned() string {
	if p == nil || p.skip || len(p.hooks) == 0 {
		return ""
	}
	names := make([]string, len(p.hooks))
	for i, h := range p.hooks {
		names[i] = fmt.Sprintf("%s %s", h.res, h.describe())
	}
	return fmt.Sprintf("%d hook(s) would run: %s", len(p.hooks), shortList(names))
}

// hookSpec is what the no-op guard compares of a hook: "PreSync Job/migrate 3fa2…" — its phase,
// kind, name (generateName+"*" for a hook named per run) and sum, the hash of the object as
// rendered.
func hookSpec(phase hookPhase, u *unstructured.Unstructured, sum string) string {
	name := u.GetName()
	if name == "" {
		name = u.GetGenerateName() + "*"
	}
	return fmt.Sprintf("%s %s/%s %s", phase, u.GetKind(), name, sum)
}

// specName is a spec without its hash: "PreSync Job/migrate".
func specName(spec string) string {
	if i := strings.LastIndexByte(spec, ' '); i > 0 {
		return spec[:i]
	}
	return spec
}

// ranSpecs are the specs of the hooks that succeeded in this sync, for the app's state
// (State.Hooks, kept from its last successful sync).
func (p *hookPlan) ranSpecs() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, h := range p.hooks {
		if h.ran && !slices.Contains(out, h.spec) {
			out = append(out, h.spec)
		}
	}
	sort.Strings(out)
	return out
}

// hooksGuard is the no-op guard's look at the hooks. A hook that runs is work: a triggered sync
// that would run a hook (PreSync, Sync, and PostSync when it waits for health; SyncFail hooks run
// only on failure) whose rendered spec is none of those the app's last successful sync ran
// (last, State.Hooks) is not a no-op — a migration Job with a new command, a new PreSync hook.
// why says so for the result ("hooks: PreSync Job/migrate changed, PostSync Job/notify new");
// "" when every hook would run again as it ran, and note then names them for the refusal. A
// Helm hook runs on every sync (before-hook-creation), so comparing with the last successful
// sync, not with the live objects (a HookSucceeded hook is gone), is what tells a changed hook
// from one that merely runs again.
func hooksGuard(p *hookPlan, last []string, noWait bool) (why, note string) {
	if p == nil || p.skip {
		return "", ""
	}
	ran := map[string]bool{}
	for _, s := range last {
		ran[specName(s)] = true
	}
	var changed, same []string
	for _, h := range p.hooks {
		if h.phase == phaseSyncFail || h.phase == phasePostSync && noWait {
			continue
		}
		name := specName(h.spec)
		switch {
		case slices.Contains(last, h.spec):
			same = appendNew(same, name)
		case ran[name]:
			changed = appendNew(changed, name+" changed")
		default:
			changed = appendNew(changed, name+" new")
		}
	}
	if len(changed) > 0 {
		return "not a no-op: hooks: " + shortList(changed), ""
	}
	if len(same) > 0 {
		return "", "hooks unchanged since the last successful sync: " + shortList(same)
	}
	return "", ""
}
