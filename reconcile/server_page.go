package reconcile

import (
	"html/template"
	"net/http"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// page is the status page: one row per app, no secrets and no messages (it needs no token).
var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"short": api.ShortRevision,
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
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>tagrelay-reconciler</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left;border-bottom:1px solid #ddd}
.Succeeded{color:#070}.Failed{color:#b00}.NoopRefused,.Refused{color:#a60}</style></head>
<body><h1>tagrelay-reconciler</h1>
<table><tr><th>app</th><th>revision</th><th>last sync</th><th>status</th><th>trigger</th><th>images changed</th></tr>
{{range .}}<tr><td>{{.Name}}{{if .Syncing}} (syncing){{end}}</td><td>{{.Ref}}</td>
{{with .LastSync}}<td>{{short .Revision}} {{ago .Started}}</td><td class="{{.Status}}">{{.Status}}</td><td>{{.Trigger}}</td>
<td>{{range changed .Images}}{{.Container}}: {{.Before}} → {{.After}}<br>{{end}}</td>{{else}}<td colspan="4">never synced</td>{{end}}</tr>
{{end}}</table><p><a href="/metrics">metrics</a> · JSON: <code>GET /api/v1/apps</code> (bearer token)</p></body></html>
`))

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, s.statuses())
}
