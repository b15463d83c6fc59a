package console

import (
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// TestLayoutTree places parents level with the middle of their children, one column per depth,
// and survives a tree whose parent links loop (a hostile owner reference).
func TestLayoutTree(t *testing.T) {
	tree := &api.Tree{App: "web", Nodes: []api.TreeNode{
		{ID: "Deployment/ns/web", Kind: "Deployment", Name: "web", Health: api.HealthProgressing},
		{ID: "ReplicaSet/ns/web-1", Parent: "Deployment/ns/web", Kind: "ReplicaSet", Name: "web-1"},
		{ID: "Pod/ns/web-1-a", Parent: "ReplicaSet/ns/web-1", Kind: "Pod", Name: "web-1-a"},
		{ID: "Pod/ns/web-1-b", Parent: "ReplicaSet/ns/web-1", Kind: "Pod", Name: "web-1-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Health: api.HealthDegraded},
		{ID: "Service/ns/web", Kind: "Service", Name: "web"},
		{ID: "ConfigMap/ns/loop", Parent: "ConfigMap/ns/loop", Kind: "ConfigMap", Name: "loop"},
	}}
	l := layoutTree("web", tree, "Pod/ns/web-1-b", map[string]int{"Pod/ns/web-1-b": 2})
	at := map[string]svgNode{}
	for _, n := range l.Nodes {
		at[n.ID] = n
	}
	if len(l.Nodes) != 6 { // five reachable objects and the app; the looping one is not drawn
		t.Fatalf("%d nodes, want 6: %+v", len(l.Nodes), l.Nodes)
	}
	a, b, rs, dep := at["Pod/ns/web-1-a"], at["Pod/ns/web-1-b"], at["ReplicaSet/ns/web-1"], at["Deployment/ns/web"]
	if rs.Y != (a.Y+b.Y)/2 || dep.Y != rs.Y || a.X <= rs.X || rs.X <= dep.X || dep.X <= at["web"].X {
		t.Errorf("layout: app %+v, deployment %+v, rs %+v, pods %+v %+v", at["web"], dep, rs, a, b)
	}
	if !b.Selected || b.Warnings != 2 || b.Health != "Degraded" || !strings.Contains(b.Label, "…") || len([]rune(b.Label)) != maxLabel {
		t.Errorf("selected pod node %+v", b)
	}
	if len(l.Edges) != 5 || l.W < b.X+nodeW || l.H < b.Y+nodeH {
		t.Errorf("%d edges (want 5), size %dx%d", len(l.Edges), l.W, l.H)
	}
}
