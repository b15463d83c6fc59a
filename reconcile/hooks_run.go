package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// ErrHook: a hook failed or did not finish in time; nothing after it was applied.
var ErrHook = errors.New("hook failed")

// HookError is a hook that failed: its reason, the state of its pods, its last events and the
// tail of its log.
type HookError struct {
	Hook   string // Kind/namespace/name
	Phase  string // PreSync (helm pre-upgrade), wave -1
	Reason string
	Pods   []string
	Events []string
	Logs   []string
	// Also are the other hooks of its wave that failed too (Kind/namespace/name).
	Also []string
}

func (e *HookError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: %s", ErrHook, e.Phase, e.Hook, e.Reason)
	if len(e.Pods) > 0 {
		fmt.Fprintf(&b, "; pods: %s", strings.Join(e.Pods, "; "))
	}
	if len(e.Events) > 0 {
		fmt.Fprintf(&b, "; last events: %s", strings.Join(e.Events, "; "))
	}
	if len(e.Logs) > 0 {
		fmt.Fprintf(&b, "; log: %s", strings.Join(e.Logs, " | "))
	}
	if len(e.Also) > 0 {
		fmt.Fprintf(&b, "; also failed in this wave: %s", shortList(e.Also))
	}
	return b.String()
}

func (e *HookError) Unwrap() error { return ErrHook }

// Bounds of the log tail a failed hook's error carries.
const (
	hookLogLines = 10
	hookLogBytes = 4 << 10
)

// runHooks runs the hooks of a phase (and wave), within timeout for all of them, and returns what
// it did, in order: batch after batch (hookBatches: the Argo CD hooks of a wave together, each
// Helm hook alone). The first batch with a failure stops it.
func (r *Reconciler) runHooks(ctx context.Context, hooks []*hook, timeout time.Duration) ([]api.ObjectChange, error) {
	if len(hooks) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []api.ObjectChange
	for _, batch := range hookBatches(hooks) {
		if err := stopped(ctx); err != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out, err
		}
		changes, err := r.runBatch(ctx, batch, timeout)
		out = append(out, changes...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// runBatch runs hooks that run together, as gitops-engine runs the tasks of one wave: it creates
// them a kind at a time (a ConfigMap hook exists before the Job of its wave that reads it), then
// waits for all of them; creating and polling, at most Jobs requests are in flight. A hook that fails does not cancel the others:
// the batch fails once they all ended (or the phase's timeout did), with the first failure in
// order, naming the others that failed.
func (r *Reconciler) runBatch(ctx context.Context, batch []*hook, timeout time.Duration) ([]api.ObjectChange, error) {
	errs := make([]error, len(batch))
	for lo := 0; lo < len(batch); {
		hi := lo + 1
		for hi < len(batch) && batch[hi].res.obj.GetKind() == batch[lo].res.obj.GetKind() {
			hi++
		}
		r.together(hi-lo, func(i int) { errs[lo+i] = r.startHook(ctx, batch[lo+i]) })
		lo = hi
	}
	changes := make([]api.ObjectChange, len(batch))
	r.together(len(batch), func(i int) { changes[i], errs[i] = r.finishHook(ctx, batch[i], timeout, errs[i]) })
	var first error
	var also []string
	for i, err := range errs {
		switch {
		case err == nil:
		case first == nil:
			first = err
		default:
			also = append(also, batch[i].String())
		}
	}
	var he *HookError
	if len(also) > 0 && errors.As(first, &he) {
		he.Also = also
	}
	return changes, first
}

// together calls f(0) … f(n-1), at most Jobs at a time, and returns once all returned.
func (r *Reconciler) together(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var g errgroup.Group
	g.SetLimit(r.opts.Jobs)
	for i := range n {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait()
}

// startHook deletes the previous object of h when its policy says so, and applies h.
func (r *Reconciler) startHook(ctx context.Context, h *hook) error {
	if h.policies[policyBeforeCreation] && h.res.live != nil {
		if err := r.deleteAndWait(ctx, h.res); err != nil {
			return r.hookFailed(ctx, h, nil, "deleting its previous object: "+err.Error())
		}
	}
	if _, err := r.applyOne(ctx, h.res, FieldManager, h.res.obj, false); err != nil {
		return r.hookFailed(ctx, h, nil, "creating it: "+err.Error())
	}
	return nil
}

// finishHook waits for a hook that started (started is startHook's error) and applies its
// delete policy.
func (r *Reconciler) finishHook(ctx context.Context, h *hook, timeout time.Duration, started error) (api.ObjectChange, error) {
	change := api.ObjectChange{Object: h.String(), Action: api.ActionHookFailed, Reason: h.describe()}
	if started != nil {
		change.Reason += ": " + failureReason(started)
		return change, started
	}
	live, st, err := r.waitHook(ctx, h)
	if err != nil {
		reason := st
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("did not finish within %s (%s)", timeout, st)
		}
		herr := r.hookFailed(context.WithoutCancel(ctx), h, live, reason)
		change.Reason += ": " + failureReason(herr)
		if h.policies[policyFailed] {
			change.Reason += ", deleted (HookFailed)"
			_ = r.deleteObject(context.WithoutCancel(ctx), h.res)
		}
		return change, herr
	}
	h.ran = true
	change.Action, change.Reason = api.ActionHookSucceeded, h.describe()+": "+st
	if h.policies[policySucceeded] {
		if err := r.deleteObject(ctx, h.res); err != nil {
			change.Reason += ", not deleted: " + err.Error()
		} else {
			change.Reason += ", deleted (HookSucceeded)"
		}
	}
	return change, nil
}

// failureReason is the reason of a hook's error, for its line in the result.
func failureReason(err error) string {
	var he *HookError
	if errors.As(err, &he) {
		return he.Reason
	}
	return err.Error()
}

// waitHook polls a hook until it is done (Current), failed or ctx ends; it returns the last
// live object and its status message.
func (r *Reconciler) waitHook(ctx context.Context, h *hook) (*unstructured.Unstructured, string, error) {
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	var live *unstructured.Unstructured
	msg := "not created yet"
	for {
		u, err := r.resourceClient(h.res).Get(ctx, h.res.obj.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			live = u
			st := hookHealth(u)
			msg = st.Message
			switch st.Status {
			case status.CurrentStatus:
				return live, msg, nil
			case status.FailedStatus:
				return live, msg, errors.New(msg)
			}
		case ctx.Err() == nil && !apierrors.IsNotFound(err):
			return live, err.Error(), err
		}
		select {
		case <-ctx.Done():
			return live, msg, ctx.Err()
		case <-tick.C:
		}
	}
}

// hookHealth is a sync's health, except that a Pod hook must complete (Succeeded), not only be
// Ready, as in Helm and Argo CD.
func hookHealth(u *unstructured.Unstructured) *status.Result {
	if gvk := u.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "Pod" {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		switch corev1.PodPhase(phase) {
		case corev1.PodSucceeded:
			return &status.Result{Status: status.CurrentStatus, Message: "Pod succeeded"}
		case corev1.PodFailed:
			return &status.Result{Status: status.FailedStatus, Message: "Pod failed"}
		}
		return &status.Result{Status: status.InProgressStatus, Message: "Pod " + strings.ToLower(phase)}
	}
	st := health(u)
	if st.Status == status.CurrentStatus && st.Message == "" {
		st.Message = "created"
	}
	return st
}

// hookFailed builds the error of a failed hook, with its pods, events and log tail.
func (r *Reconciler) hookFailed(ctx context.Context, h *hook, live *unstructured.Unstructured, reason string) error {
	if live != nil {
		if c := failedCondition(live); c != "" && !strings.Contains(reason, c) {
			reason = c + ": " + reason
		}
	}
	e := &HookError{Hook: h.String(), Phase: h.describe(), Reason: reason}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if live != nil {
		e.Pods, e.Events = r.diagnose(ctx, h.res, live)
		e.Logs = r.hookLogs(ctx, h.res, live)
	}
	return errdefs.WithHint(errdefs.Unavailable(e),
		"fix the hook (its log is above) and push a new commit, or raise the app's timeout; nothing after it was applied")
}

// hookLogs returns the last lines of the log of the hook's (newest) pod, bounded.
func (r *Reconciler) hookLogs(ctx context.Context, res *resource, live *unstructured.Unstructured) []string {
	ns := res.obj.GetNamespace()
	var pod *corev1.Pod
	if live.GetKind() == "Pod" {
		p, err := r.cs.CoreV1().Pods(ns).Get(ctx, live.GetName(), metav1.GetOptions{})
		if err != nil {
			return nil
		}
		pod = p
	} else if sel := podSelector(live); sel != "" {
		list, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil || len(list.Items) == 0 {
			return nil
		}
		pod = &list.Items[0]
		for i := range list.Items {
			if list.Items[i].CreationTimestamp.After(pod.CreationTimestamp.Time) {
				pod = &list.Items[i]
			}
		}
	}
	if pod == nil || len(pod.Spec.Containers) == 0 {
		return nil
	}
	tail, limit := int64(hookLogLines), int64(hookLogBytes)
	stream, err := r.cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: pod.Spec.Containers[0].Name,
		TailLines: &tail, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return nil
	}
	defer stream.Close()
	b, _ := io.ReadAll(io.LimitReader(stream, hookLogBytes))
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, pod.Name+": "+l)
		}
	}
	return out
}

// deleteObject deletes a hook object and what it owns (a Job's pods) in the background.
func (r *Reconciler) deleteObject(ctx context.Context, res *resource) error {
	bg := metav1.DeletePropagationBackground
	err := r.resourceClient(res).Delete(ctx, res.obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return apiError("deleting "+res.String(), err)
	}
	return nil
}

// deleteAndWait deletes a hook's previous object (before-hook-creation) and waits until it is
// gone, so that the new one is created, not patched. Its pods go with it (foreground).
func (r *Reconciler) deleteAndWait(ctx context.Context, res *resource) error {
	fg := metav1.DeletePropagationForeground
	err := r.resourceClient(res).Delete(ctx, res.obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return apiError("deleting "+res.String(), err)
	}
	tick := time.NewTicker(r.opts.PollInterval)
	defer tick.Stop()
	for {
		_, err := r.resourceClient(res).Get(ctx, res.obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still there: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
