package reconcile

import (
	"fmt"
	"strings"

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
