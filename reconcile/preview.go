package reconcile

import (
	"context"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TriggerPreview is the trigger recorded in the result of a Preview (which is not kept in the
// history).
const TriggerPreview = "preview"

// Preview dry-runs a sync of the app (nothing is written, nothing recorded) and says whether the
// no-op guard would refuse a triggered sync of it: the console shows both before asking to
// confirm a sync. The error is the dry run's (render, guard, cluster); its result is still
// returned, with the message.
func (r *Reconciler) Preview(ctx context.Context, app App) (*api.Preview, error) {
	res, err := r.Sync(ctx, app, SyncOptions{Trigger: TriggerPreview, DryRun: true})
	p := &api.Preview{Result: res}
	if err == nil {
		if gerr := noopGuard(res.Images, "", false, false); gerr != nil {
			p.Refusal = gerr.Error()
		}
	}
	return p, err
}
