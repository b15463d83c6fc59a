package reconcile

import (
	"html/template"
	"net/http"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

var pageFuncs = template.FuncMap{
	"short": api.ShortRevision,
	"inc":   func(i int) int { return i + 1 },
	"ago": func(t time.Time) string {
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"changed": func(images []api.ImageChange) []api.ImageChange {
		var out []api.ImageChange
		for _, c := range images {
			if c.Changed() {
				out = append(out, c)
			}
		}
		return out
	},
}

const pageHead = `<!doctype html>
<html><head><meta charset="utf-8"><title>tagrelay-reconciler</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}
.Succeeded{color:#070}.Failed{color:#b00}.NoopRefused,.Refused{color:#a60}.pin{color:#a60}</style></head>
<body>`

// page is the status page: one row per app the caller may see, no messages.
var page = template.Must(template.New("status").Funcs(pageFuncs).Parse(pageHead + `<h1>tagrelay-reconciler</h1>
<p>replica {{.Server.Identity}}{{if .Server.Leading}} (leader){{else if .Server.Leader}} (leader: {{.Server.Leader}}){{end}}</p>
<table><tr><th>app</th><th>project</th><th>revision</th><th>last sync</th><th>status</th><th>trigger</th><th>images changed</th></tr>
{{range .Apps}}<tr><td><a href="apps/{{.Name}}">{{.Name}}</a>{{if .Syncing}} (syncing){{end}}{{if .Pin.Active}} <span class="pin">pinned at {{short .Pin.Revision}}</span>{{end}}</td>
<td>{{.Project}}</td><td>{{.Ref}}</td>
{{with .LastSync}}<td>{{short .Revision}} {{ago .Started}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Trigger}}</td>
<td>{{range changed .Images}}{{.Container}}: {{.Before}} → {{.After}}<br>{{end}}</td>{{else}}<td colspan="4">never synced</td>{{end}}</tr>
{{end}}</table><p>JSON: <code>GET /api/v1/apps</code></p></body></html>
`))

// appPage is one app: its state, its pin and its history.
var appPage = template.Must(template.New("app").Funcs(pageFuncs).Parse(pageHead + `<h1>{{.App.Name}}</h1>
<p>{{.App.Repo}} {{.App.Ref}} {{.App.Path}}{{with .App.Project}} · project {{.}}{{end}} · last handled commit {{short .App.LastCommit}}</p>
{{with .App.Pin}}<p class="pin">{{if .Active}}Pinned at {{short .Revision}} by a rollback ({{.Caller.String}}, {{ago .Since}}): polls do not deploy {{short .Over}}; a new commit or an unpin ends it.
{{else}}The rollback pin at {{short .Revision}} ended: {{.EndedBy}}.{{end}}</p>{{end}}
<table><tr><th>#</th><th>started</th><th>trigger</th><th>caller</th><th>status</th><th>revision</th><th>images changed</th></tr>
{{range $i, $h := .History}}<tr><td>{{inc $i}}</td><td>{{ago .Started}}</td><td>{{.Trigger}}</td><td>{{.Caller.String}}</td><td class="{{.Status}}">{{.Status}}</td>
<td>{{short .Revision}}</td><td>{{range changed .Images}}{{.Container}}: {{.Before}} → {{.After}}<br>{{end}}</td></tr>
{{end}}</table><p><a href="../">all apps</a></p></body></html>
`))

func (s *Server) handlePage(w http.ResponseWriter, _ *http.Request, p *principal) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, map[string]any{"Server": s.Status(), "Apps": s.statuses(p)})
}

func (s *Server) handleAppPage(w http.ResponseWriter, r *http.Request, p *principal) {
	st := s.appFor(w, r, p)
	if st == nil || s.route(w, r, st, true) {
		return
	}
	hist, err := s.r.History(r.Context(), st.name)
	if err != nil {
		http.Error(w, "reading the history: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = appPage.Execute(w, map[string]any{"App": st.status(), "History": hist})
}
