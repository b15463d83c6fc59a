package gitops

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// fluxObject is a Kustomization or a source, read without Flux's Go types (they would bring
// controller-runtime into tagrelay).
type fluxObject struct {
	*unstructured.Unstructured
}

func (o fluxObject) str(path ...string) string {
	s, _, _ := unstructured.NestedString(o.Object, path...)
	return s
}

func (o fluxObject) ref() ObjectRef {
	return ObjectRef{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
}

func (o fluxObject) suspended() bool {
	b, _, _ := unstructured.NestedBool(o.Object, "spec", "suspend")
	return b
}

// condition returns the status, reason and message of a status condition.
func (o fluxObject) condition(typ string) (st, reason, msg string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			st, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			msg, _ = m["message"].(string)
			return st, reason, msg
		}
	}
	return "", "", ""
}

// observed reports whether the controller has seen the object's latest spec.
func (o fluxObject) observed() bool {
	g, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
	return g == o.GetGeneration()
}

// inventoryEntry is an object a Kustomization applied.
type inventoryEntry struct {
	Namespace, Name, Group, Kind string
}

// inventory parses status.inventory.entries[].id, "<namespace>_<name>_<group>_<kind>"
// (cli-utils ObjMetadata).
func (o fluxObject) inventory() []inventoryEntry {
	entries, _, _ := unstructured.NestedSlice(o.Object, "status", "inventory", "entries")
	var out []inventoryEntry
	for _, e := range entries {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		if p := strings.Split(id, "_"); len(p) == 4 {
			out = append(out, inventoryEntry{Namespace: p[0], Name: p[1], Group: p[2], Kind: p[3]})
		}
	}
	return out
}

// inventoryNamespaces returns the namespaces of the inventory's workloads.
func (o fluxObject) inventoryNamespaces() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range o.inventory() {
		if e.Group == "apps" && workloadKinds[e.Kind] && !seen[e.Namespace] {
			seen[e.Namespace] = true
			out = append(out, e.Namespace)
		}
	}
	sort.Strings(out)
	return out
}

// sourceReady is the end of a source's reconciliation: the request handled, Ready, and the
// artifact's revision.
func sourceReady(target string, src fluxObject, token string) (done bool, waiting, rev string, err error) {
	if src.str("status", "lastHandledReconcileAt") != token || !src.observed() {
		return false, src.ref().String() + " has not handled the request yet", "", nil
	}
	st, reason, msg := src.condition("Ready")
	switch st {
	case "True":
		rev = src.str("status", "artifact", "revision")
		return rev != "", "no artifact yet", rev, nil
	case "False":
		return false, "", "", &RolloutError{Target: target, Reason: fmt.Sprintf("%s not ready (%s): %s", src.ref(), reason, msg)}
	}
	return false, fmt.Sprintf("%s: %s", src.ref(), orUnknown(msg)), "", nil
}

// kustomizationDone is the end of a trigger: the Kustomization handled the request, applied rev
// and is Ready, and the expected images run on rolled-out workloads of its inventory. Failing
// pods end it early, whatever the Kustomization says yet.
func kustomizationDone(target, rev, token string, ks fluxObject, before, after snapshot, expect []Image, judge func(error) (string, error)) (bool, string, error) {
	if p := failures(before, after, expect); len(p) > 0 {
		return false, "", &RolloutError{Target: target, Revision: rev, Problems: p}
	}
	handled := ks.str("status", "lastHandledReconcileAt") == token && ks.observed()
	st, reason, msg := ks.condition("Ready")
	attempted := ks.str("status", "lastAttemptedRevision")
	if handled && st == "False" && attempted == rev && reason != "DependencyNotReady" {
		return false, "", &RolloutError{Target: target, Revision: rev, Reason: fmt.Sprintf("Ready False (%s): %s", reason, msg)}
	}
	if applied := ks.str("status", "lastAppliedRevision"); !handled || applied != rev {
		if st == "" {
			return false, "not reconciled yet", nil
		}
		return false, fmt.Sprintf("lastAppliedRevision %s, Ready %s: %s", orUnknown(shortRev(applied)), st, orUnknown(msg)), nil
	}
	if waiting, err := judge(notDeployed(target, rev, after, expect)); err != nil || waiting != "" {
		return false, waiting, err
	}
	if p := pending(after, expect); p != "" {
		return false, p, nil
	}
	if st != "True" {
		return false, fmt.Sprintf("Ready %s: %s", orUnknown(st), orUnknown(msg)), nil
	}
	return true, "", nil
}

// snapshot reads the inventory's workloads and their pods from the informers. A namespace not
// followed yet is started first.
func (w *fluxWatch) snapshot(ks fluxObject) snapshot {
	_ = w.ensure(ks.inventoryNamespaces()) // on error (ctx ended) the snapshot is partial; until reports ctx
	var out snapshot
	seen := map[string]bool{}
	for _, e := range ks.inventory() {
		if e.Group != "apps" || !workloadKinds[e.Kind] {
			continue
		}
		n := w.namespace(e.Namespace)
		if n == nil {
			continue
		}
		wl, sel := workloadStatus(n, e)
		out.Workloads = append(out.Workloads, wl)
		if sel == nil {
			continue
		}
		for _, o := range n.pods.GetStore().List() {
			p := o.(*corev1.Pod)
			if p.DeletionTimestamp != nil || seen[string(p.UID)] || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			seen[string(p.UID)] = true
			out.Pods = append(out.Pods, podOf(p, wl.key()))
		}
	}
	return out
}

// workloadStatus computes a workload's rollout with kstatus (the rules Flux's health checks use)
// and returns its pod selector.
func workloadStatus(n *nsInformers, e inventoryEntry) (workload, labels.Selector) {
	wl := workload{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
	store := n.deploys.GetStore()
	switch e.Kind {
	case "StatefulSet":
		store = n.sts.GetStore()
	case "DaemonSet":
		store = n.dss.GetStore()
	}
	obj, ok, _ := store.GetByKey(e.Namespace + "/" + e.Name)
	if !ok {
		wl.Message = "not found"
		return wl, nil
	}
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sel = o.Spec.Selector
	case *appsv1.StatefulSet:
		sel = o.Spec.Selector
	case *appsv1.DaemonSet:
		sel = o.Spec.Selector
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		wl.Message = err.Error()
		return wl, nil
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("apps/v1") // informers' objects carry no TypeMeta; kstatus picks its rules by kind
	u.SetKind(e.Kind)
	res, err := status.Compute(u)
	if err != nil {
		wl.Message = err.Error()
		return wl, nil
	}
	wl.Ready, wl.Failed, wl.Message = res.Status == status.CurrentStatus, res.Status == status.FailedStatus, res.Message
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return wl, nil
	}
	return wl, s
}

// failingReasons are the container states a rollout does not recover from by waiting: Argo CD's
// pod health calls them Degraded, `kubectl rollout status` would wait for the progress deadline.
var failingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

func podOf(p *corev1.Pod, workloadKey string) pod {
	out := pod{UID: string(p.UID), Namespace: p.Namespace, Name: p.Name, Workload: workloadKey, Created: p.CreationTimestamp.Time}
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		out.Images = append(out.Images, c.Image)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			out.Ready = true
		}
	}
	var why []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if wt := cs.State.Waiting; wt != nil && failingReasons[wt.Reason] {
			why = append(why, fmt.Sprintf("container %s (%s) %s: %s", cs.Name, cs.Image, wt.Reason, wt.Message))
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		why = append(why, fmt.Sprintf("pod Failed: %s %s", p.Status.Reason, p.Status.Message))
	}
	out.Problem = strings.Join(why, "; ")
	return out
}
