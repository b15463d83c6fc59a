package reconcile

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// Notifier is told about the syncs of the apps that have a notify: section (App.Notify): once a
// sync passed its guards and starts applying (Started), and when it ended (Finished), with what
// failed. Its methods must return at once: *notify.Notifier queues and sends in the background,
// so a slow or hanging forge never holds a sync.
type Notifier interface {
	Started(cfg *notify.Config, res api.SyncResult)
	Finished(cfg *notify.Config, res api.SyncResult, d *notify.Diagnosis)
}

// Bounds of the diagnosis of a failed rollout: the cluster reads for the log tails (the rollout
// error already holds the pods and events).
const (
	diagnosisTimeout = 10 * time.Second
	maxDiagnosedPods = 3
	defaultLogTail   = 20
)

// SetNotifier sets the Notifier (Options.Notifier) before the first sync.
func (r *Reconciler) SetNotifier(n Notifier) { r.opts.Notifier = n }

// notifyStarted tells the Notifier that a sync of app applies: the app commits it carries are
// pending.
func (r *Reconciler) notifyStarted(app App, opts SyncOptions, res *Result) {
	if r.opts.Notifier == nil || app.Notify == nil || opts.DryRun {
		return
	}
	started := *res
	started.Duration = api.Duration(time.Since(res.Started))
	r.opts.Notifier.Started(app.Notify, started)
}

// notifyFinished tells the Notifier how a sync ended, with the failed object, its reason, pods,
// events and log tails when a rollout failed. A sync stopped with its context (the replica lost
// the lead or drains) or fenced off by another replica is not told: the leader runs it (again)
// and tells.
func (r *Reconciler) notifyFinished(ctx context.Context, app App, opts SyncOptions, res *Result, err error) {
	if r.opts.Notifier == nil || app.Notify == nil || opts.DryRun || ctx.Err() != nil || errors.Is(err, ErrFenced) {
		return
	}
	var d *notify.Diagnosis
	if re := (*RolloutError)(nil); errors.As(err, &re) {
		d = &notify.Diagnosis{Objects: []notify.FailedObject{r.failedObject(ctx, app, re, app.Notify.LogLines)}}
	}
	r.opts.Notifier.Finished(app.Notify, *res, d)
}

// failedObject is a rollout error with the log tails of the object's unhealthy pods (at most
// maxDiagnosedPods, their first container each), read within diagnosisTimeout; a failed read
// leaves the logs out.
func (r *Reconciler) failedObject(ctx context.Context, app App, re *RolloutError, lines int) notify.FailedObject {
	o := notify.FailedObject{Object: re.Object, Reason: re.Reason, Pods: re.Pods, Events: re.Events}
	if lines < 0 {
		return o
	}
	if lines == 0 {
		lines = defaultLogTail
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnosisTimeout)
	defer cancel()
	tree, err := r.Tree(ctx, app)
	if err != nil {
		r.log.Debug("no log tails for the notification: reading the tree failed", "app", app.Name, "error", err)
		return o
	}
	for _, pod := range unhealthyPods(tree, re.Object) {
		if len(o.Logs) == maxDiagnosedPods {
			break
		}
		tail := notify.LogTail{Pod: pod.Name}
		err := r.Logs(ctx, tree, api.LogQuery{Pod: pod.Name, TailLines: int64(lines)}, func(l api.LogLine) error {
			tail.Lines = append(tail.Lines, l.Line)
			return nil
		})
		if err != nil {
			r.log.Debug("no log tail for the notification", "app", app.Name, "pod", pod.Name, "error", err)
			continue
		}
		for _, c := range pod.Containers {
			if !strings.HasPrefix(c, "init:") {
				tail.Container = c
				break
			}
		}
		o.Logs = append(o.Logs, tail)
	}
	return o
}

// unhealthyPods are the pods under object (by the tree's parents) that are not healthy.
func unhealthyPods(t *api.Tree, object string) []api.TreeNode {
	under := map[string]bool{object: true}
	for changed := true; changed; { // parents come before their children, but do not rely on it
		changed = false
		for _, n := range t.Nodes {
			if !under[n.ID] && n.Parent != "" && under[n.Parent] {
				under[n.ID], changed = true, true
			}
		}
	}
	var out []api.TreeNode
	for _, n := range t.Nodes {
		if n.Kind == "Pod" && n.Group == "" && under[n.ID] && n.ID != object && n.Health != api.HealthHealthy {
			out = append(out, n)
		}
	}
	return out
}
