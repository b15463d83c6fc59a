package console

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The tree's geometry, in SVG user units (pixels at 100 %).
const (
	nodeW   = 212
	nodeH   = 40
	rowH    = 48
	colGap  = 40
	padding = 12
	// maxLabel is how many characters of a name fit a node (the middle of a longer one is
	// cut: pods differ at the end); the full name is its tooltip.
	maxLabel = 26
	// maxInfo is how many characters of the summary fit next to the kind.
	maxInfo = 21
)

// svgTree is a resource tree laid out for the template: one column per depth (app, the objects
// it applied, ReplicaSets and Jobs, Pods), each leaf on its own row and each parent centred on
// its children.
type svgTree struct {
	W, H  int
	Nodes []svgNode
	Edges []string // path data
}

type svgNode struct {
	X, Y, W, H, Right     int
	ID, Kind, Abbr, Label string
	Title, Info, Health   string
	Href                  string
	Warnings              int
	Selected, Root        bool
}

// kindAbbr are the short kind names kubectl users know.
var kindAbbr = map[string]string{
	"Deployment": "deploy", "ReplicaSet": "rs", "Pod": "pod", "Service": "svc", "ConfigMap": "cm",
	"Secret": "secret", "StatefulSet": "sts", "DaemonSet": "ds", "Job": "job", "CronJob": "cj",
	"Ingress": "ing", "PersistentVolumeClaim": "pvc", "ServiceAccount": "sa", "HorizontalPodAutoscaler": "hpa",
	"PodDisruptionBudget": "pdb", "NetworkPolicy": "netpol", "Role": "role", "RoleBinding": "rb",
}

// layoutTree places the app's node and its tree's nodes. selected is the ID of the node the
// page shows the details of; warns counts Warning events per node.
func layoutTree(app string, t *api.Tree, selected string, warns map[string]int) *svgTree {
	kids := map[string][]int{}
	var roots []int
	for i, n := range t.Nodes {
		if n.Parent == "" {
			roots = append(roots, i)
		} else {
			kids[n.Parent] = append(kids[n.Parent], i)
		}
	}
	out := &svgTree{Nodes: make([]svgNode, 0, len(t.Nodes)+1)}
	base := "/apps/" + url.PathEscape(app)
	row, maxDepth := 0, 0
	ys := make(map[string]int, len(t.Nodes))
	var place func(i, depth int) (y int)
	visited := make([]bool, len(t.Nodes))
	place = func(i, depth int) int {
		n := &t.Nodes[i]
		visited[i] = true
		maxDepth = max(maxDepth, depth)
		y := 0
		ks := kids[n.ID]
		for j := 0; j < len(ks); j++ {
			if visited[ks[j]] { // a node that is its own ancestor: drawn once
				ks = append(ks[:j:j], ks[j+1:]...)
				j--
			}
		}
		kids[n.ID] = ks
		if len(ks) > 0 {
			first, last := 0, 0
			for j, k := range ks {
				ky := place(k, depth+1)
				if j == 0 {
					first = ky
				}
				last = ky
			}
			y = (first + last) / 2
		} else {
			y = padding + row*rowH
			row++
		}
		x := padding + depth*(nodeW+colGap)
		sn := svgNode{X: x, Y: y, W: nodeW, H: nodeH, Right: x + nodeW - 8, ID: n.ID, Kind: n.Kind, Abbr: abbr(n.Kind),
			Label: middle(n.Name, maxLabel), Title: n.ID, Info: ellipsis(n.Info, maxInfo), Health: string(n.Health),
			Href: base + "?node=" + url.QueryEscape(n.ID), Warnings: warns[n.ID], Selected: n.ID == selected}
		if n.Message != "" {
			sn.Title += "\n" + n.Message
		}
		out.Nodes = append(out.Nodes, sn)
		ys[n.ID] = y
		for _, k := range kids[n.ID] {
			out.Edges = append(out.Edges, edge(sn.X, y, padding+(depth+1)*(nodeW+colGap), ys[t.Nodes[k].ID]))
		}
		return y
	}
	first, last := padding, padding
	for j, i := range roots {
		y := place(i, 1)
		if j == 0 {
			first = y
		}
		last = y
	}
	h, _ := t.Health()
	// the app sits level with its first object: in a tall tree the middle is out of sight
	rootY := first
	if len(roots) < 8 {
		rootY = (first + last) / 2
	}
	out.Nodes = append(out.Nodes, svgNode{X: padding, Y: rootY, W: nodeW, H: nodeH, Right: padding + nodeW - 8, ID: app, Kind: "App", Abbr: "app", Label: middle(app, maxLabel),
		Title: app, Info: plural(len(roots), "object"), Health: string(h), Href: base, Root: true, Selected: selected == ""})
	for _, i := range roots {
		out.Edges = append(out.Edges, edge(padding, rootY, padding+nodeW+colGap, ys[t.Nodes[i].ID]))
	}
	out.W = padding*2 + (maxDepth+1)*nodeW + maxDepth*colGap
	out.H = max(padding*2+row*rowH-(rowH-nodeH), padding*2+nodeH)
	return out
}

// edge is an elbow from the right side of the node at (x1, y1) to the left side of the node at
// (x2, y2): the edges of one parent share their vertical trunk, so many children stay legible.
func edge(x1, y1, x2, y2 int) string {
	sx, sy, ex, ey := x1+nodeW, y1+nodeH/2, x2, y2+nodeH/2
	mid := sx + colGap/2
	if sy == ey {
		return fmt.Sprintf("M%d %dH%d", sx, sy, ex)
	}
	// a rounded corner of radius 6 into the child's row
	r, dir := 6, 1
	if ey < sy {
		dir = -1
	}
	return fmt.Sprintf("M%d %dH%dV%dQ%d %d %d %dH%d", sx, sy, mid, ey-dir*r, mid, ey, mid+r, ey, ex)
}

func abbr(kind string) string {
	if a, ok := kindAbbr[kind]; ok {
		return a
	}
	return ellipsis(strings.ToLower(kind), 6)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// middle cuts s to n runes by replacing its middle with "…": web-000-6d4c…56db6-00001.
func middle(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	head := (n - 1) / 2
	return string(r[:head]) + "…" + string(r[len(r)-(n-1-head):])
}

// ellipsis cuts s to n runes, ending in "…" when cut.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
