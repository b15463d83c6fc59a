package console

import (
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// overviewPage is the list of apps, grouped by project.
type overviewPage struct {
	page
	Filter   api.AppFilter
	Total    int
	Shown    int
	Projects []chip
	Health   []chip
	Sync     []chip
	Any      string // the link that drops the status filter ("" when none is set)
	Groups   []group
	Prev     string
	Next     string
}

// chip is one filter link with its count.
type chip struct {
	Label, Class, Href string
	Count              int
	Active             bool
}

type group struct {
	Project string
	Rows    []template.HTML // rendered rows (see rowCache)
}

// row is one app in the overview (and the fragment a live update replaces). Its strings are
// computed here, not in the template: the overview renders 1,000 of them.
type row struct {
	Name, Href, Project, Namespace, Ref, Path string
	Health, HealthClass, HealthMessage        string
	Sync, SyncClass                           string
	Pinned                                    string
	Images                                    []imageView
	Last                                      *lastSync
}

// lastSync is what the overview says about an app's last sync.
type lastSync struct {
	When, Ago                string // RFC 3339, and as shown until the script makes it "5m ago"
	Status, Trigger, Who     string
	Revision, Message, Class string
}

// imageView is one running image: the repository's last path segment and the tag, the tag
// linked to the app's commit when it is a commit hash and the source repository is known.
type imageView struct {
	Workload, Container, Name, Tag, Image, CommitURL string
	Title                                            string
	Pods, Ready                                      int
	NotReady                                         bool
}

// The status filters, in the order the overview lists them.
var (
	healthOrder = []string{string(api.HealthHealthy), string(api.HealthProgressing), string(api.HealthDegraded),
		string(api.HealthMissing), string(api.HealthUnknown)}
	syncOrder = []string{string(api.SyncSynced), string(api.SyncOutOfSync), string(api.SyncSyncing), string(api.SyncFailed),
		string(api.SyncNoopRefused), "Pinned"}
)

func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	q := r.URL.Query()
	f := api.AppFilter{Project: q.Get("project"), Status: q.Get("status"), Limit: c.opts.PageSize}
	f.Offset, _ = strconv.Atoi(q.Get("offset"))
	f.Offset = max(f.Offset, 0)
	res, err := c.b.Apps(r.Context(), p, f)
	if err != nil {
		c.backendError(w, r, err)
		return
	}
	pg := c.newPage(w, r, "Apps")
	pg.Stream = streamURL(r, "/stream", nil)
	page, err := c.overview(pg, p, f, res)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	c.render(w, http.StatusOK, "overview.html", page)
}

// overview builds the overview page of a page of apps.
func (c *Console) overview(pg page, p api.Principal, f api.AppFilter, res *api.AppPage) (*overviewPage, error) {
	out := &overviewPage{page: pg, Filter: f, Total: res.Total}
	link := func(project, status string, offset int) string {
		v := url.Values{}
		if project != "" {
			v.Set("project", project)
		}
		if status != "" {
			v.Set("status", status)
		}
		if offset > 0 {
			v.Set("offset", strconv.Itoa(offset))
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	if len(res.Projects) > 1 {
		out.Projects = append(out.Projects, chip{Label: "all projects", Href: link("", f.Status, 0), Active: f.Project == ""})
		for _, pr := range res.Projects {
			if p.Allows(pr) {
				out.Projects = append(out.Projects, chip{Label: pr, Href: link(pr, f.Status, 0), Active: f.Project == pr})
			}
		}
	}
	chips := func(order []string) []chip {
		var out []chip
		for _, s := range order {
			if n := res.Counts[s]; n > 0 || f.Status == s {
				out = append(out, chip{Label: s, Class: strings.ToLower(s), Count: n, Href: link(f.Project, s, 0), Active: f.Status == s})
			}
		}
		return out
	}
	out.Health, out.Sync = chips(healthOrder), chips(syncOrder)
	if f.Status != "" {
		out.Any = link(f.Project, "", 0)
	}
	for i := range res.Apps {
		st := &res.Apps[i]
		if !p.Allows(st.Project) {
			continue // the backend should not have sent it; never show it
		}
		if n := len(out.Groups); n == 0 || out.Groups[n-1].Project != st.Project {
			out.Groups = append(out.Groups, group{Project: st.Project})
		}
		g := &out.Groups[len(out.Groups)-1]
		rw := c.rowOf(st)
		h, err := c.rowHTML(&rw)
		if err != nil {
			return nil, err
		}
		g.Rows = append(g.Rows, h)
		out.Shown++
	}
	if f.Offset > 0 {
		out.Prev = link(f.Project, f.Status, max(f.Offset-f.Limit, 0))
	}
	if f.Offset+len(res.Apps) < res.Total {
		out.Next = link(f.Project, f.Status, f.Offset+len(res.Apps))
	}
	return out, nil
}

// rowOf is an app's overview row.
func (c *Console) rowOf(st *api.AppState) row {
	rw := row{Name: st.Name, Href: "/apps/" + url.PathEscape(st.Name), Project: st.Project, Namespace: st.Namespace,
		Ref: st.Ref, Path: st.Path, Health: string(st.Health), HealthMessage: st.HealthMessage, Sync: string(st.Sync),
		Pinned: api.ShortRevision(st.Pinned), Images: c.running(st)}
	if rw.Health == "" {
		rw.Health = string(api.HealthUnknown)
	}
	if rw.Sync == "" {
		rw.Sync = string(api.SyncStateOf(st.Syncing, st.LastSync, false))
	}
	rw.HealthClass, rw.SyncClass = "h-"+strings.ToLower(rw.Health), "s-"+strings.ToLower(rw.Sync)
	if l := st.LastSync; l != nil {
		who := who(l)
		if who == l.Trigger {
			who = ""
		}
		rw.Last = &lastSync{When: l.Started.UTC().Format(time.RFC3339), Ago: stamp(l.Started), Status: string(l.Status),
			Trigger: l.Trigger, Who: who, Revision: api.ShortRevision(l.Revision), Message: l.Message,
			Class: "r-" + strings.ToLower(string(l.Status))}
	}
	return rw
}

// running is the view of an app's running images.
func (c *Console) running(st *api.AppState) []imageView {
	out := make([]imageView, 0, len(st.Running))
	for _, ri := range st.Running {
		ref, _, _ := strings.Cut(ri.Image, "@")
		tag := ri.Tag()
		repo := strings.TrimSuffix(ref, ":"+tag)
		name := repo[strings.LastIndexByte(repo, '/')+1:]
		workload := ri.Object[strings.LastIndexByte(ri.Object, '/')+1:]
		out = append(out, imageView{Workload: workload, Container: ri.Container, Name: name, Tag: tag, Image: ri.Image,
			CommitURL: commitURL(cmp.Or(ri.SourceRepo, st.SourceRepo), tag), Title: ri.Image + " · " + workload + "/" + ri.Container,
			Pods: ri.Pods, Ready: ri.Ready, NotReady: ri.Ready < ri.Pods})
	}
	return out
}

// who names who asked for a sync: the caller the server recorded (the principal of a console
// action, the token or pipeline of an API call), or the trigger of a poll or a webhook.
func who(res *api.SyncResult) string {
	if s := res.Caller.String(); s != "" {
		return s
	}
	return res.Trigger
}

// commitURL links a tag that is a commit hash (7 to 40 hex digits) to the commit in the source
// repository, "" when the tag is not a hash or the repository is not an http(s) URL. GitLab
// keeps commits under /-/commit/, GitHub and Gitea under /commit/.
func commitURL(repo, tag string) string {
	if repo == "" || !isCommitish(tag) {
		return ""
	}
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(repo, "/"), ".git"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	sep := "/commit/"
	if strings.Contains(u.Host, "gitlab") {
		sep = "/-/commit/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String() + sep + tag
}

func isCommitish(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
