package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// maxEvents is how many of the last events a failure shows.
const maxEvents = 5

// failedCondition returns the reason of the condition that says why a workload is stuck:
// Progressing=False (Deployment: ProgressDeadlineExceeded), Failed=True (Job), or
// ReplicaFailure=True.
func failedCondition(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, s, reason := m["type"], m["status"], m["reason"]
		if (t == "Progressing" && s == "False") || (t == "Failed" && s == "True") || (t == "ReplicaFailure" && s == "True") {
			if r, _ := reason.(string); r != "" {
				return r
			}
		}
	}
	return ""
}

// diagnose returns the unready pods of a workload (by its selector) with their container
// states, and the last events of the workload, its ReplicaSets and its pods.
func (r *Reconciler) diagnose(ctx context.Context, res *resource, live *unstructured.Unstructured) (pods, events []string) {
	ns := res.obj.GetNamespace()
	names := map[string]bool{res.obj.GetName(): true}
	if sel := podSelector(live); sel != "" {
		list, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			for i := range list.Items {
				p := &list.Items[i]
				for _, o := range p.OwnerReferences {
					names[o.Name] = true
				}
				if s := podProblem(p); s != "" {
					names[p.Name] = true
					pods = append(pods, s)
				}
			}
		}
	}
	if len(pods) > maxEvents {
		pods = append(pods[:maxEvents], fmt.Sprintf("and %d more", len(pods)-maxEvents))
	}
	list, err := r.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return pods, nil
	}
	var evs []corev1.Event
	for _, e := range list.Items {
		if names[e.InvolvedObject.Name] {
			evs = append(evs, e)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return eventTime(evs[i]).Time.Before(eventTime(evs[j]).Time) })
	if len(evs) > maxEvents {
		evs = evs[len(evs)-maxEvents:]
	}
	for _, e := range evs {
		events = append(events, fmt.Sprintf("%s %s/%s %s: %s", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, strings.TrimSpace(e.Message)))
	}
	return pods, events
}

// podSelector returns the label selector of a workload, "" for kinds without one.
func podSelector(u *unstructured.Unstructured) string {
	if u == nil {
		return ""
	}
	m, found, _ := unstructured.NestedMap(u.Object, "spec", "selector")
	if !found {
		return ""
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || sel.Empty() {
		return ""
	}
	return sel.String()
}

// podProblem describes why a pod is not ready, "" when it is.
func podProblem(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
		return ""
	}
	var why []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil:
			why = append(why, fmt.Sprintf("container %s (%s) %s: %s", cs.Name, cs.Image, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			why = append(why, fmt.Sprintf("container %s (%s) terminated %s, exit %d", cs.Name, cs.Image, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		}
	}
	ready := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			why = append(why, "unschedulable: "+c.Message)
		}
	}
	if ready && len(why) == 0 {
		return ""
	}
	if len(why) == 0 {
		why = append(why, string(p.Status.Phase)+", not ready")
	}
	return p.Name + ": " + strings.Join(why, ", ")
}

func eventTime(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	}
	return e.CreationTimestamp
}
