package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// appPageData is an app's page: the header (state, running images, actions) and one tab.
type appPageData struct {
	page
	App     api.AppState
	Running []imageView
	Tab     string

	Tree     *svgTree
	Node     *api.TreeNode
	NodeLogs []string // containers of a selected pod
	Events   []api.Event
	Object   string // the events tab's object filter
	Preview  *previewView
	History  []historyRow
	Logs     *logsView
}

// app reads the request's app, answering 404 when it does not exist or the principal may not
// see it (the same answer, so an app's existence does not leak across projects).
func (c *Console) app(w http.ResponseWriter, r *http.Request) (*api.AppState, bool) {
	p := principal(r.Context())
	name := r.PathValue("name")
	st, err := c.b.App(r.Context(), p, name)
	if err == nil && !p.Allows(st.Project) {
		err = errNoApp(name)
	}
	if err != nil {
		c.backendError(w, r, err)
		return nil, false
	}
	return st, true
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request, st *api.AppState, tab string) *appPageData {
	pg := c.newPage(w, r, st.Name)
	pg.Stream = streamURL(r, appStream(st.Name), nil)
	return &appPageData{page: pg, App: *st, Running: c.running(st), Tab: tab}
}

// appStream is the path of an app page's stream.
func appStream(name string) string { return "/apps/" + url.PathEscape(name) + "/stream" }

// handleTree shows the resource tree, and the selected object's details and events.
func (c *Console) handleTree(w http.ResponseWriter, r *http.Request) {
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	p := principal(r.Context())
	t, err := c.b.Tree(r.Context(), p, st.Name)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	evs, err := c.b.Events(r.Context(), p, st.Name)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	d := c.appPage(w, r, st, "tree")
	selected := r.URL.Query().Get("node")
	d.Tree = layoutTree(st.Name, t, selected, warnings(evs))
	for i := range t.Nodes {
		if n := &t.Nodes[i]; n.ID == selected {
			d.Node = n
			if n.Kind == "Pod" && n.Group == "" {
				for _, ct := range n.Containers {
					if !strings.HasPrefix(ct, "init:") {
						d.NodeLogs = append(d.NodeLogs, ct)
					}
				}
			}
		}
	}
	if d.Node != nil {
		for _, e := range evs {
			if e.Object == d.Node.ID {
				d.Events = append(d.Events, e)
			}
		}
	}
	name := "app.html"
	if r.URL.Query().Get("fragment") == "tree" {
		name = "tree-tab"
	}
	c.render(w, http.StatusOK, name, d)
}

// warnings counts the Warning events of each object.
func warnings(evs []api.Event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		if e.Type == "Warning" {
			m[e.Object]++
		}
	}
	return m
}

// previewView is a sync's dry run as the diff tab and the sync dialog show it.
type previewView struct {
	Refusal  string
	Error    string
	Revision string
	Images   []api.ImageChange
	Changed  []objectDiff
	Same     []string // objects a sync leaves unchanged
}

type objectDiff struct {
	Object, Action string
	Lines          []diffLine
}

func (c *Console) preview(r *http.Request, name string) *previewView {
	pv, err := c.b.Preview(r.Context(), principal(r.Context()), name)
	v := &previewView{}
	if err != nil {
		v.Error = err.Error()
	}
	if pv == nil || pv.Result == nil {
		return v
	}
	v.Refusal, v.Revision = pv.Refusal, api.ShortRevision(pv.Result.Revision)
	if err != nil && pv.Result.Message != "" {
		v.Error = pv.Result.Message
	}
	for _, ic := range pv.Result.Images {
		if ic.Changed() {
			v.Images = append(v.Images, ic)
		}
	}
	for _, o := range pv.Result.Objects {
		if o.Action == api.ActionUnchanged {
			v.Same = append(v.Same, o.Object)
			continue
		}
		v.Changed = append(v.Changed, objectDiff{Object: o.Object, Action: string(o.Action), Lines: diffLines(o.Diff)})
	}
	return v
}

// handleDiff shows the live-vs-desired diff of every object (a dry run, Secrets masked).
func (c *Console) handleDiff(w http.ResponseWriter, r *http.Request) {
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	d := c.appPage(w, r, st, "diff")
	d.Preview = c.preview(r, st.Name)
	c.render(w, http.StatusOK, "app.html", d)
}

// historyRow is one recorded sync.
type historyRow struct {
	N        int
	Res      api.SyncResult
	Who      string
	Images   []api.ImageChange
	Duration string
	Class    string
	Current  bool // the entry's commit runs now
	Target   bool // a rollback can go to it: it succeeded, and its commit does not run now
}

func (c *Console) handleHistory(w http.ResponseWriter, r *http.Request) {
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	hist, err := c.b.History(r.Context(), principal(r.Context()), st.Name)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	d := c.appPage(w, r, st, "history")
	d.History = historyRows(hist)
	c.render(w, http.StatusOK, "app.html", d)
}

func historyRows(hist []api.SyncResult) []historyRow {
	// what runs is the newest successful sync's commit; a rollback goes to another one
	current := ""
	for _, h := range hist {
		if h.Status == api.StatusSucceeded {
			current = h.Revision
			break
		}
	}
	out := make([]historyRow, len(hist))
	for i, h := range hist {
		row := historyRow{N: i + 1, Res: h, Who: who(&h), Duration: time.Duration(h.Duration).Round(100 * time.Millisecond).String(),
			Class: strings.ToLower(string(h.Status)), Current: h.Revision == current,
			Target: h.Status == api.StatusSucceeded && h.Revision != "" && h.Revision != current}
		for _, ic := range h.Images {
			if ic.Changed() {
				row.Images = append(row.Images, ic)
			}
		}
		out[i] = row
	}
	return out
}

func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) {
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	evs, err := c.b.Events(r.Context(), principal(r.Context()), st.Name)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	d := c.appPage(w, r, st, "events")
	d.Object = r.URL.Query().Get("object")
	for _, e := range evs {
		if d.Object == "" || e.Object == d.Object {
			d.Events = append(d.Events, e)
		}
	}
	c.render(w, http.StatusOK, "app.html", d)
}

// logsView is the logs tab: the app's pods and the tail of the selected container's log.
type logsView struct {
	Pods      []podView
	Pod       string
	Container string
	Lines     []api.LogLine
	Error     string
	Stream    string // the page stream's URL with the pod and container, for follow
}

type podView struct {
	Name, Health, Info string
	Containers         []string
}

func (c *Console) handleLogs(w http.ResponseWriter, r *http.Request) {
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	p := principal(r.Context())
	t, err := c.b.Tree(r.Context(), p, st.Name)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	d := c.appPage(w, r, st, "logs")
	lv := &logsView{Pod: r.URL.Query().Get("pod"), Container: r.URL.Query().Get("container")}
	for _, n := range t.Nodes {
		if n.Kind != "Pod" || n.Group != "" {
			continue
		}
		pv := podView{Name: n.Name, Health: string(n.Health), Info: n.Info}
		for _, ct := range n.Containers {
			if !strings.HasPrefix(ct, "init:") {
				pv.Containers = append(pv.Containers, ct)
			}
		}
		lv.Pods = append(lv.Pods, pv)
	}
	if lv.Pod == "" && len(lv.Pods) > 0 {
		lv.Pod = lv.Pods[0].Name
	}
	if lv.Pod != "" {
		tail, _ := strconv.ParseInt(r.URL.Query().Get("tail"), 10, 64)
		q := api.LogQuery{Pod: lv.Pod, Container: lv.Container, TailLines: tail}
		err := c.b.Logs(r.Context(), p, st.Name, q, func(l api.LogLine) error {
			lv.Lines = append(lv.Lines, l)
			return nil
		})
		if err != nil {
			lv.Error = err.Error()
		}
		v := url.Values{"pod": {lv.Pod}}
		if lv.Container != "" {
			v.Set("container", lv.Container)
		}
		lv.Stream = streamURL(r, appStream(st.Name), v)
	}
	d.Logs = lv
	c.render(w, http.StatusOK, "app.html", d)
}

// diffLine is one line of a unified diff with its class: add, del, hunk, meta or ctx.
type diffLine struct {
	Class, Text string
}

func diffLines(d string) []diffLine {
	if d == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
	out := make([]diffLine, len(lines))
	for i, l := range lines {
		cls := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			cls = "meta"
		case strings.HasPrefix(l, "@@"):
			cls = "hunk"
		case strings.HasPrefix(l, "+"):
			cls = "add"
		case strings.HasPrefix(l, "-"):
			cls = "del"
		}
		out[i] = diffLine{Class: cls, Text: l}
	}
	return out
}
