package api

import (
	"fmt"
	"strings"
	"time"
)

// Describe is the text form of a sync result: the outcome, the image changes, the object counts
// and, for dry runs, the diffs.
func (res *SyncResult) Describe(diffs bool) string {
	var b strings.Builder
	at := ShortRevision(res.Revision)
	if res.Ref != "" && res.Ref != res.Revision {
		at += " (" + res.Ref + ")"
	}
	fmt.Fprintf(&b, "%s: %s at %s in %s\n", res.App, res.Status, at, time.Duration(res.Duration).Round(time.Millisecond))
	for _, c := range res.Images {
		if c.Changed() {
			before := c.Before
			if before == "" {
				before = "(new)"
			}
			fmt.Fprintf(&b, "  %s %s: %s -> %s\n", c.Object, c.Container, before, c.After)
		}
	}
	sum := res.Summary()
	var counts []string
	for _, a := range []Action{ActionCreated, ActionConfigured, ActionUnchanged, ActionPruned, ActionSkipped, ActionRestarted,
		ActionHookSucceeded, ActionHookFailed, ActionHookSkipped} {
		if sum[a] > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", sum[a], a))
		}
	}
	fmt.Fprintf(&b, "  objects: %s\n", strings.Join(counts, ", "))
	for _, o := range res.Objects {
		if diffs && o.Action != ActionUnchanged {
			fmt.Fprintf(&b, "%s %s\n", o.Action, o.Object)
			b.WriteString(o.Diff)
		}
	}
	return b.String()
}

// ShortRevision abbreviates a commit hash to its first 8 characters, as the reconciler's
// messages and the CLI show it; a shorter string is returned whole.
func ShortRevision(rev string) string {
	if len(rev) > 8 {
		return rev[:8]
	}
	return rev
}
