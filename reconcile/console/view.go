package console

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// funcs are the templates' helpers. Every value from the cluster, a repository or a caller goes
// through html/template's contextual escaping; none of these returns template.HTML.
func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"short": api.ShortRevision,
		"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
		"ago":   ago,
		"stamp": stamp,
		"clock": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("15:04:05")
		},
		"path":  url.PathEscape,
		"query": url.QueryEscape,
		"orNew": orNew,
		"who":   who,
		"add":   func(a, b int) int { return a + b },
		"tabs": func() []tab {
			return []tab{{"tree", "Tree", ""}, {"diff", "Diff", "/diff"}, {"history", "History", "/history"},
				{"events", "Events", "/events"}, {"logs", "Logs", "/logs"}}
		},
	}
}

type tab struct{ ID, Label, Path string }

// stamp is an absolute time, shown where the page's script does not make it relative.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

// ago is a coarse relative time: "12s ago", "5m ago", "3h ago", "2d ago".
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return d.Truncate(time.Second).String() + " ago"
	case d < time.Hour:
		return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s") + " ago"
	case d < 48*time.Hour:
		return strings.TrimSuffix(strings.TrimSuffix(d.Truncate(time.Hour).String(), "0s"), "0m") + " ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
}

// assetVersion is a hash of the embedded assets: their URLs change when they do, so browsers
// may cache them forever.
func assetVersion() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFS.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}
