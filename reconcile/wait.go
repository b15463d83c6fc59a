package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// ErrRollout: a workload failed to become healthy (a failed rollout, a failed Job, a timeout).
var ErrRollout = errors.New("rollout failed")

// healthKinds are the kinds whose readiness a sync waits for; every other kind is ready once
// applied. Service and Ingress addresses are not waited for.
var healthKinds = map[string]bool{
	"apps/Deployment": true, "apps/StatefulSet": true, "apps/DaemonSet": true, "apps/ReplicaSet": true,
	"batch/Job": true, "/PersistentVolumeClaim": true, "/Pod": true,
}

// wait watches the app's workloads (wait_informer.go) until every one is Current (kstatus: rolled out, observed
// generation caught up, replicas updated and available; Job complete; PVC bound), one fails, or
// timeout passes. A failure names the object, the reason and the last events of its pods.
func (r *Reconciler) wait(ctx context.Context, rs []*resource, timeout time.Duration) error {
	var targets []*resource
	for _, res := range rs {
		if gk := res.gk(); healthKinds[gk.Group+"/"+gk.Kind] {
			targets = append(targets, res)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	var sub *subscription // the informers (wait_informer.go); nil: a LIST per tick
	var changed <-chan struct{}
	live, barrier := map[*resource]*unstructured.Unstructured{}, map[*resource]int64{}
	for first := true; ; first = false {
		if sub != nil {
			sub.live(live, barrier)
		} else {
			var err error
			if live, err = r.list(ctx, targets); err != nil && ctx.Err() == nil {
				return err
			}
			if first {
				for res, u := range live {
					barrier[res] = u.GetGeneration()
				}
				if sub = r.subscribe(ctx, targets); sub != nil {
					defer sub.release()
					changed = sub.changed
				}
			}
		}
		var waiting []*resource
		var reasons []string
		for _, res := range targets {
			st := health(live[res])
			switch st.Status {
			case status.CurrentStatus:
				continue
			case status.FailedStatus:
				return r.explain(context.WithoutCancel(ctx), res, live[res], st.Message)
			}
			waiting = append(waiting, res)
			reasons = append(reasons, st.Message)
		}
		if len(waiting) == 0 {
			return nil
		}
		r.log.Debug("waiting for workloads", "count", len(waiting), "first", waiting[0].String(), "reason", reasons[0])
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return r.explain(context.WithoutCancel(ctx), waiting[0], live[waiting[0]],
					fmt.Sprintf("timed out after %s (%s); %d workload(s) not ready: %s", timeout, reasons[0], len(waiting), joinRefs(waiting)))
			}
			return ctx.Err()
		case <-tick.C:
		case <-changed:
		}
	}
}

// health computes the status of a live object: kstatus's rules per kind (the ones Flux and kpt
// use: rollout of Deployments, StatefulSets, DaemonSets incl. ProgressDeadlineExceeded, PVC
// bound, ...), except for Jobs (health_job.go). A missing object is still in progress.
func health(u *unstructured.Unstructured) *status.Result {
	if u == nil {
		return &status.Result{Status: status.InProgressStatus, Message: "not created yet"}
	}
	if gvk := u.GroupVersionKind(); gvk.Group == "batch" && gvk.Kind == "Job" {
		return jobHealth(u)
	}
	st, err := status.Compute(u)
	if err != nil {
		return &status.Result{Status: status.UnknownStatus, Message: err.Error()}
	}
	return st
}

// RolloutError is a workload that did not become healthy.
type RolloutError struct {
	Object string   // Kind/namespace/name
	Reason string   // ProgressDeadlineExceeded, BackoffLimitExceeded, timed out ...
	Pods   []string // the state of its unready pods
	Events []string // its last events and its pods'
}

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s", ErrRollout, e.Object, e.Reason)
	if len(e.Pods) > 0 {
		fmt.Fprintf(&b, "; pods: %s", strings.Join(e.Pods, "; "))
	}
	if len(e.Events) > 0 {
		fmt.Fprintf(&b, "; last events: %s", strings.Join(e.Events, "; "))
	}
	return b.String()
}

func (e *RolloutError) Unwrap() error { return ErrRollout }

// explain builds the RolloutError of res, with its pods and events.
func (r *Reconciler) explain(ctx context.Context, res *resource, live *unstructured.Unstructured, reason string) error {
	if live != nil {
		if c := failedCondition(live); c != "" {
			reason = c + ": " + reason
		}
	}
	e := &RolloutError{Object: res.String(), Reason: reason}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	e.Pods, e.Events = r.diagnose(ctx, res, live)
	return errdefs.WithHint(errdefs.Unavailable(e),
		"fix the image or configuration and push a new commit (the previous ReplicaSet keeps serving), or raise --timeout")
}
