package reconcile

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// historyName is the ConfigMap holding an app's sync history, newest first.
func historyName(app string) string { return "tagrelay-history-" + app }

// The history must fit a ConfigMap (1 MiB): entries list at most maxHistoryObjects changed
// objects, and the oldest entries go when the whole exceeds maxHistoryBytes.
const (
	maxHistoryObjects = 50
	maxHistoryBytes   = 512 << 10
)

// record prepends res to the app's history, keeping the last HistoryLimit entries. Object
// diffs and unchanged objects are not kept.
func (r *Reconciler) record(ctx context.Context, res *Result) error {
	entry := *res
	entry.Objects = nil
	changed := 0
	for _, o := range res.Objects {
		if o.Action == api.ActionUnchanged {
			continue
		}
		if changed++; changed <= maxHistoryObjects {
			entry.Objects = append(entry.Objects, api.ObjectChange{Object: o.Object, Action: o.Action})
		}
	}
	if changed > maxHistoryObjects {
		entry.Objects = append(entry.Objects, api.ObjectChange{Object: fmt.Sprintf("(%d more)", changed-maxHistoryObjects)})
	}
	return r.updateData(ctx, res.App, historyName(res.App), historyKey, func(old []byte) (any, error) {
		var entries []Result
		if len(old) > 0 {
			if err := json.Unmarshal(old, &entries); err != nil {
				entries = nil // a corrupt history is replaced, not fatal to a deploy
			}
		}
		entries = append([]Result{entry}, entries...)
		if len(entries) > r.opts.HistoryLimit {
			entries = entries[:r.opts.HistoryLimit]
		}
		for len(entries) > 1 {
			if b, err := json.Marshal(entries); err != nil || len(b) <= maxHistoryBytes {
				break
			}
			entries = entries[:len(entries)-1]
		}
		return entries, nil
	})
}

// History returns the app's recorded syncs, newest first.
func (r *Reconciler) History(ctx context.Context, app string) ([]Result, error) {
	var entries []Result
	_, err := r.readData(ctx, historyName(app), historyKey, &entries)
	return entries, err
}
