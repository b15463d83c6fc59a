package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The kinds the controllers make from an app's workloads, read for its tree.
var (
	replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	jobsGVR        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// childKinds says which kinds a controller makes from a kind: Deployment → ReplicaSet → Pod,
// CronJob → Job → Pod, StatefulSet, DaemonSet → Pod.
var childKinds = map[string][]schema.GroupVersionResource{
	"Deployment": {replicaSetsGVR}, "ReplicaSet": {podsGVR}, "StatefulSet": {podsGVR},
	"DaemonSet": {podsGVR}, "CronJob": {jobsGVR}, "Job": {podsGVR},
}

// kindOrder ranks the objects an app applied in its tree: workloads first, then what routes to
// them, then their configuration; other kinds after, by name.
var kindOrder = map[string]int{
	"Deployment": 0, "StatefulSet": 1, "DaemonSet": 2, "CronJob": 3, "Job": 4, "Pod": 5,
	"Service": 10, "Ingress": 11, "HorizontalPodAutoscaler": 12, "PodDisruptionBudget": 13,
	"ConfigMap": 20, "Secret": 21, "PersistentVolumeClaim": 22, "ServiceAccount": 23,
}

// Tree returns the app's resource tree: every object of its inventory with its live state and
// health, and below each workload what its controllers made of it (ReplicaSets, Jobs, Pods),
// matched by owner references. It costs a GET per object (a LIST per kind when it has many)
// and a LIST per level of controllers by the workloads' label selectors (see children). An app that never
// synced has an empty tree.
func (r *Reconciler) Tree(ctx context.Context, app App) (*api.Tree, error) {
	inv, err := r.readInventory(ctx, app.Name)
	if err != nil {
		return nil, err
	}
	refs := inv.refs
	t := &api.Tree{App: app.Name}
	rs := make([]*resource, 0, len(refs))
	var unknown []ref
	for _, x := range refs {
		res, ok, err := r.resourceOf(x)
		if err != nil {
			return nil, err
		}
		if !ok {
			unknown = append(unknown, x)
			continue
		}
		rs = append(rs, res)
	}
	live, err := r.list(ctx, rs)
	if err != nil {
		return nil, err
	}
	children, err := r.children(ctx, rs, live)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(rs, func(i, j int) bool { return treeLess(rs[i].obj, rs[j].obj) })
	for _, res := range rs {
		u := live[res]
		if u == nil {
			t.Nodes = append(t.Nodes, api.TreeNode{ID: res.String(), Group: res.gk().Group, Kind: res.gk().Kind,
				Namespace: res.obj.GetNamespace(), Name: res.obj.GetName(), Health: api.HealthMissing,
				Message: "in the inventory, not in the cluster"})
			continue
		}
		t.Nodes = appendSubtree(t.Nodes, u, "", children)
	}
	for _, x := range unknown {
		t.Nodes = append(t.Nodes, api.TreeNode{ID: x.String(), Group: x.Group, Kind: x.Kind, Namespace: x.Namespace,
			Name: x.Name, Health: api.HealthUnknown, Message: "the cluster no longer serves this kind"})
	}
	return t, nil
}

// resourceOf maps an inventory entry to a resource whose live object list can read; ok is false
// for a kind the cluster does not serve (any more).
func (r *Reconciler) resourceOf(x ref) (*resource, bool, error) {
	gvk := schema.GroupVersionKind{Group: x.Group, Version: x.Version, Kind: x.Kind}
	m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, apiError("discovering the API of "+gvk.String(), err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(x.Namespace)
	u.SetName(x.Name)
	return &resource{obj: u, gvr: m.Resource, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, true, nil
}

// children reads, level by level, what the controllers made of the app's workloads (a
// Deployment's ReplicaSets, then their Pods; a CronJob's Jobs, then theirs) and indexes them by
// owner UID. Each level is one LIST per kind, namespace and label selector: the selector of the
// workload at the top of the chain, which everything made from it carries (its pod template's
// labels), so a tree costs a few small LISTs however many apps share the namespace. Only a
// CronJob, which has no selector, has its Jobs listed over the namespace; their Pods go by the
// Job's selector.
func (r *Reconciler) children(ctx context.Context, rs []*resource, live map[*resource]*unstructured.Unstructured) (map[types.UID][]*unstructured.Unstructured, error) {
	out := map[types.UID][]*unstructured.Unstructured{}
	type parent struct {
		u   *unstructured.Unstructured
		sel string // the label selector its children are listed with, "" for all
	}
	level := make([]parent, 0, len(rs))
	for _, res := range rs {
		if u := live[res]; u != nil {
			level = append(level, parent{u, podSelector(u)})
		}
	}
	seen := map[types.UID]bool{}
	for _, p := range level {
		seen[p.u.GetUID()] = true
	}
	for len(level) > 0 {
		type key struct {
			gvr     schema.GroupVersionResource
			ns, sel string
		}
		want := map[key]bool{}
		parents := map[types.UID]string{} // UID → the selector its children inherit
		for _, p := range level {
			parents[p.u.GetUID()] = p.sel
			for _, gvr := range childKinds[p.u.GetKind()] {
				want[key{gvr, p.u.GetNamespace(), p.sel}] = true
			}
		}
		lists := make(map[key][]unstructured.Unstructured, len(want))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.opts.Jobs)
		var mu sync.Mutex
		for k := range want {
			g.Go(func() error {
				list, err := r.dyn.Resource(k.gvr).Namespace(k.ns).List(gctx, metav1.ListOptions{LabelSelector: k.sel})
				if err != nil {
					return apiError(fmt.Sprintf("listing %s in %s", k.gvr.Resource, k.ns), err)
				}
				mu.Lock()
				lists[k] = list.Items
				mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []parent
		for _, items := range lists {
			for i := range items {
				u := &items[i]
				owner := controllerOf(u)
				sel, ok := parents[owner]
				// seen: owner references can form a cycle, and one object can be in two lists
				// (two selectors match it); each object is drawn once
				if owner == "" || !ok || seen[u.GetUID()] {
					continue
				}
				seen[u.GetUID()] = true
				out[owner] = append(out[owner], u)
				if sel == "" {
					sel = podSelector(u)
				}
				next = append(next, parent{u, sel})
			}
		}
		level = next
	}
	return out, nil
}

// controllerOf returns the UID of the object's controller (its owner reference with
// controller: true), "" when it has none.
func controllerOf(u *unstructured.Unstructured) types.UID {
	for _, o := range u.GetOwnerReferences() {
		if o.Controller != nil && *o.Controller {
			return o.UID
		}
	}
	return ""
}

// appendSubtree appends u and, depth first, what its controllers made of it.
func appendSubtree(nodes []api.TreeNode, u *unstructured.Unstructured, parent string, children map[types.UID][]*unstructured.Unstructured) []api.TreeNode {
	n := treeNode(u, parent)
	nodes = append(nodes, n)
	kids := children[u.GetUID()]
	sort.SliceStable(kids, func(i, j int) bool {
		// the newest ReplicaSet (highest revision) first; pods and jobs by name
		ri, rj := revision(kids[i]), revision(kids[j])
		if ri != rj {
			return ri > rj
		}
		return kids[i].GetName() < kids[j].GetName()
	})
	for _, k := range kids {
		nodes = appendSubtree(nodes, k, n.ID, children)
	}
	return nodes
}

// treeNode describes one live object: its health by the rules the wait phase uses, a short
// summary and, for workloads and pods, its containers and images.
func treeNode(u *unstructured.Unstructured, parent string) api.TreeNode {
	gvk := u.GroupVersionKind()
	n := api.TreeNode{ID: refOf(u).String(), Parent: parent, Group: gvk.Group, Kind: gvk.Kind,
		Namespace: u.GetNamespace(), Name: u.GetName(), Created: u.GetCreationTimestamp().Time}
	st := health(u)
	n.Health, n.Message = healthOf(st.Status), st.Message
	if n.Health == api.HealthHealthy {
		n.Message = ""
	}
	n.Info = summary(u)
	n.Containers, n.Images = containersOf(u)
	return n
}

// healthOf maps a kstatus status to the console's health.
func healthOf(s status.Status) api.Health {
	switch s {
	case status.CurrentStatus:
		return api.HealthHealthy
	case status.InProgressStatus, status.TerminatingStatus:
		return api.HealthProgressing
	case status.FailedStatus:
		return api.HealthDegraded
	case status.NotFoundStatus:
		return api.HealthMissing
	}
	return api.HealthUnknown
}

// containersOf returns the container names of a workload or pod and their images, in the
// order of the pod spec (init containers first, prefixed "init:").
func containersOf(u *unstructured.Unstructured) (names, images []string) {
	imgs := containerImages(u)
	if len(imgs) == 0 {
		return nil, nil
	}
	p := podSpecPath[u.GetKind()]
	for _, field := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(u.Object, append(append([]string{}, p...), field)...)
		for _, c := range list {
			m, _ := c.(map[string]any)
			name, _ := m["name"].(string)
			if field == "initContainers" {
				name = "init:" + name
			}
			names = append(names, name)
			images = append(images, imgs[name])
		}
	}
	return names, images
}

// summary is the one-line state shown under an object's name.
func summary(u *unstructured.Unstructured) string {
	num := func(fields ...string) int64 {
		v, _, _ := unstructured.NestedInt64(u.Object, fields...)
		return v
	}
	str := func(fields ...string) string {
		v, _, _ := unstructured.NestedString(u.Object, fields...)
		return v
	}
	switch u.GetKind() {
	case "Deployment", "StatefulSet":
		return fmt.Sprintf("%d/%d ready", num("status", "readyReplicas"), num("spec", "replicas"))
	case "DaemonSet":
		return fmt.Sprintf("%d/%d ready", num("status", "numberReady"), num("status", "desiredNumberScheduled"))
	case "ReplicaSet":
		s := fmt.Sprintf("%d/%d ready", num("status", "readyReplicas"), num("spec", "replicas"))
		if rev := revision(u); rev > 0 {
			s = "rev " + strconv.Itoa(rev) + " · " + s
		}
		return s
	case "Pod":
		return podSummary(u)
	case "Job":
		return fmt.Sprintf("%d succeeded, %d failed", num("status", "succeeded"), num("status", "failed"))
	case "Service":
		if ip := str("spec", "clusterIP"); ip != "" && ip != "None" {
			return str("spec", "type") + " " + ip
		}
		return str("spec", "type")
	case "ConfigMap", "Secret":
		// key count only: a Secret's values never leave the reconciler
		m, _, _ := unstructured.NestedMap(u.Object, "data")
		return fmt.Sprintf("%d keys", len(m))
	}
	return ""
}

// podSummary is a pod's phase, or the reason its first unready container waits, and its restarts.
func podSummary(u *unstructured.Unstructured) string {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	restarts := int64(0)
	statuses, _, _ := unstructured.NestedSlice(u.Object, "status", "containerStatuses")
	for _, s := range statuses {
		m, _ := s.(map[string]any)
		if n, ok := m["restartCount"].(int64); ok {
			restarts += n
		}
		if reason, _, _ := unstructured.NestedString(m, "state", "waiting", "reason"); reason != "" && phase == "Running" {
			phase = reason
		}
	}
	if u.GetDeletionTimestamp() != nil {
		phase = "Terminating"
	}
	if restarts > 0 {
		return fmt.Sprintf("%s · %d restarts", phase, restarts)
	}
	return phase
}

// revision is the Deployment revision of a ReplicaSet (0 for other objects).
func revision(u *unstructured.Unstructured) int {
	n, _ := strconv.Atoi(u.GetAnnotations()["deployment.kubernetes.io/revision"])
	return n
}

func treeLess(a, b *unstructured.Unstructured) bool {
	ra, oka := kindOrder[a.GetKind()]
	rb, okb := kindOrder[b.GetKind()]
	if !oka {
		ra = 50
	}
	if !okb {
		rb = 50
	}
	if ra != rb {
		return ra < rb
	}
	if a.GetKind() != b.GetKind() {
		return a.GetKind() < b.GetKind()
	}
	return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName()) < 0
}
