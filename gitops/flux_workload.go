package gitops

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The workloads and pods of a Kustomization's inventory as the API server gives them, and how a
// rollout is judged from them (kstatus' rules; the pod states nothing recovers from).

// kubeWorkload is the part of a Deployment, StatefulSet or DaemonSet a rollout is judged by
// (JSON field names match case-insensitively).
type kubeWorkload struct {
	Metadata struct {
		Generation int64
	}
	Spec struct {
		Replicas       *int32
		Selector       *labelSelector
		UpdateStrategy struct {
			Type          string
			RollingUpdate *struct{ Partition *int32 }
		}
	}
	Status struct {
		ObservedGeneration                                                           int64
		Replicas, UpdatedReplicas, ReadyReplicas, AvailableReplicas, CurrentReplicas int32
		CurrentRevision, UpdateRevision                                              string
		DesiredNumberScheduled, CurrentNumberScheduled, UpdatedNumberScheduled       int32
		NumberAvailable, NumberReady                                                 int32
		Conditions                                                                   []struct{ Type, Status, Reason, Message string }
	}
}

// status judges a workload's rollout by the rules of kstatus (sigs.k8s.io/cli-utils, which Flux's
// health checks use): ready is kstatus Current, failed is Failed (a Deployment past its progress
// deadline); message says what it waits for.
func (w *kubeWorkload) status(kind string) (ready, failed bool, message string) {
	st := w.Status
	if w.Metadata.Generation > st.ObservedGeneration {
		return false, false, "generation not observed yet"
	}
	want := int32(1)
	if w.Spec.Replicas != nil {
		want = *w.Spec.Replicas
	}
	switch kind {
	case "Deployment":
		for _, c := range st.Conditions {
			if c.Type == "Progressing" && c.Status == "False" && c.Reason == "ProgressDeadlineExceeded" {
				return false, true, "progress deadline exceeded: " + c.Message
			}
		}
		switch {
		case st.UpdatedReplicas < want:
			return false, false, fmt.Sprintf("updated: %d/%d", st.UpdatedReplicas, want)
		case st.Replicas > st.UpdatedReplicas:
			return false, false, fmt.Sprintf("pending termination: %d", st.Replicas-st.UpdatedReplicas)
		case st.AvailableReplicas < st.UpdatedReplicas:
			return false, false, fmt.Sprintf("available: %d/%d", st.AvailableReplicas, st.UpdatedReplicas)
		case st.ReadyReplicas < want:
			return false, false, fmt.Sprintf("ready: %d/%d", st.ReadyReplicas, want)
		}
		return true, false, fmt.Sprintf("available, replicas: %d", want)
	case "StatefulSet":
		if w.Spec.UpdateStrategy.Type == "OnDelete" {
			return true, false, "update strategy OnDelete"
		}
		if st.ReadyReplicas < want {
			return false, false, fmt.Sprintf("ready: %d/%d", st.ReadyReplicas, want)
		}
		if ru := w.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			if st.UpdatedReplicas < want-*ru.Partition {
				return false, false, fmt.Sprintf("partitioned rollout: %d/%d updated", st.UpdatedReplicas, want-*ru.Partition)
			}
			return true, false, "partitioned rollout complete"
		}
		if st.CurrentReplicas < want {
			return false, false, fmt.Sprintf("current: %d/%d", st.CurrentReplicas, want)
		}
		if st.UpdateRevision != st.CurrentRevision {
			return false, false, "waiting for the update revision to be current"
		}
		return true, false, fmt.Sprintf("all replicas ready: %d", want)
	default: // DaemonSet
		d := st.DesiredNumberScheduled
		switch {
		case st.CurrentNumberScheduled < d, st.UpdatedNumberScheduled < d:
			return false, false, fmt.Sprintf("updated: %d/%d", st.UpdatedNumberScheduled, d)
		case st.NumberAvailable < d:
			return false, false, fmt.Sprintf("available: %d/%d", st.NumberAvailable, d)
		case st.NumberReady < d:
			return false, false, fmt.Sprintf("ready: %d/%d", st.NumberReady, d)
		}
		return true, false, fmt.Sprintf("all pods ready: %d", d)
	}
}

// labelSelector is a metav1.LabelSelector.
type labelSelector struct {
	MatchLabels      map[string]string
	MatchExpressions []struct {
		Key, Operator string
		Values        []string
	}
}

func (s *labelSelector) empty() bool { return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 }

func (s *labelSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if l, ok := labels[k]; !ok || l != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		in := false
		for _, x := range e.Values {
			in = in || (has && v == x)
		}
		switch e.Operator {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// kubePod is the part of a Pod a rollout is judged by.
type kubePod struct {
	Metadata struct {
		UID, Name, Namespace string
		Labels               map[string]string
		CreationTimestamp    time.Time
		DeletionTimestamp    *time.Time
	}
	Spec struct {
		InitContainers, Containers []struct{ Name, Image string }
	}
	Status struct {
		Phase, Reason, Message                   string
		Conditions                               []struct{ Type, Status string }
		InitContainerStatuses, ContainerStatuses []struct {
			Name, Image string
			State       struct {
				Waiting *struct{ Reason, Message string }
			}
		}
	}
}

// failingReasons are the container states a rollout does not recover from by waiting: Argo CD's
// pod health calls them Degraded, `kubectl rollout status` would wait for the progress deadline.
var failingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

func (p *kubePod) pod(workloadKey string) pod {
	m := p.Metadata
	out := pod{UID: m.UID, Namespace: m.Namespace, Name: m.Name, Workload: workloadKey, Created: m.CreationTimestamp}
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		out.Images = append(out.Images, c.Image)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			out.Ready = true
		}
	}
	var why []string
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if wt := cs.State.Waiting; wt != nil && failingReasons[wt.Reason] {
			why = append(why, fmt.Sprintf("container %s (%s) %s: %s", cs.Name, cs.Image, wt.Reason, wt.Message))
		}
	}
	if p.Status.Phase == "Failed" {
		why = append(why, fmt.Sprintf("pod Failed: %s %s", p.Status.Reason, p.Status.Message))
	}
	out.Problem = strings.Join(why, "; ")
	return out
}
