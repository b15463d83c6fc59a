package gitops

// workloadKinds are the kinds whose pods a trigger follows.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true}

// snapshot reads the workloads and pods of Argo CD's resource tree: a pod belongs to the
// workload found up its parent references (Pod → ReplicaSet → Deployment).
func (s argoState) snapshot() snapshot {
	byUID := make(map[string]*resourceNode, len(s.tree.Nodes))
	for i := range s.tree.Nodes {
		byUID[s.tree.Nodes[i].UID] = &s.tree.Nodes[i]
	}
	var out snapshot
	for i := range s.tree.Nodes {
		n := &s.tree.Nodes[i]
		h := n.Health
		if h == nil {
			h = &healthStatus{}
		}
		switch {
		case n.Group == "apps" && workloadKinds[n.Kind]:
			out.Workloads = append(out.Workloads, workload{Kind: n.Kind, Namespace: n.Namespace, Name: n.Name,
				Ready: h.Status == "Healthy", Failed: h.Status == "Degraded", Message: h.Message})
		case n.Group == "" && n.Kind == "Pod":
			p := pod{UID: n.UID, Namespace: n.Namespace, Name: n.Name, Workload: ownerWorkload(n, byUID),
				Images: n.Images, Ready: h.Status == "Healthy", Created: n.CreatedAt}
			if h.Status == "Degraded" {
				p.Problem = orUnknown(h.Message)
			}
			out.Pods = append(out.Pods, p)
		}
	}
	return out
}

// ownerWorkload walks up a node's parents to the first workload, "" when there is none.
func ownerWorkload(n *resourceNode, byUID map[string]*resourceNode) string {
	for depth := 0; depth < 8 && len(n.ParentRefs) > 0; depth++ {
		parent, ok := byUID[n.ParentRefs[0].UID]
		if !ok {
			return ""
		}
		if parent.Group == "apps" && workloadKinds[parent.Kind] {
			return workload{Kind: parent.Kind, Namespace: parent.Namespace, Name: parent.Name}.key()
		}
		n = parent
	}
	return ""
}
