package console

import (
	"bytes"
	"html/template"
	"strconv"
	"strings"
	"sync"
)

// rowCache keeps the rendered overview rows, keyed by everything a row shows: a page of 1,000
// apps renders only the rows whose app changed since the last page, and a live update renders
// its row once for every open page. The HTML comes from the "row" template (html/template
// escaped it), so the page inserts it as it is. Rows show absolute times (the page's script
// turns them into relative ones), so a row does not change as time passes.
type rowCache struct {
	mu  sync.Mutex
	m   map[string]template.HTML
	max int
}

func newRowCache(max int) *rowCache { return &rowCache{m: map[string]template.HTML{}, max: max} }

// html returns the rendered row, rendering it on a miss.
func (c *Console) rowHTML(rw *row) (template.HTML, error) {
	key := rw.key()
	rc := c.rows
	rc.mu.Lock()
	h, ok := rc.m[key]
	rc.mu.Unlock()
	if ok {
		return h, nil
	}
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	if err := c.tmpl.ExecuteTemplate(b, "row", rw); err != nil {
		return "", err
	}
	h = template.HTML(b.String())
	rc.mu.Lock()
	if len(rc.m) >= rc.max {
		clear(rc.m) // a fleet this size re-renders once
	}
	rc.m[key] = h
	rc.mu.Unlock()
	return h, nil
}

// key is every field the row shows, separated by a byte no field contains.
func (rw *row) key() string {
	var b strings.Builder
	b.Grow(512)
	add := func(ss ...string) {
		for _, s := range ss {
			b.WriteString(s)
			b.WriteByte(0)
		}
	}
	add(rw.Name, rw.Href, rw.Project, rw.Namespace, rw.Ref, rw.Path, rw.Health, rw.HealthClass, rw.HealthMessage,
		rw.Sync, rw.SyncClass, rw.Pinned)
	for _, im := range rw.Images {
		add(im.Workload, im.Container, im.Name, im.Tag, im.Image, im.CommitURL, im.Title,
			strconv.Itoa(im.Pods), strconv.Itoa(im.Ready), strconv.FormatBool(im.NotReady))
	}
	if l := rw.Last; l != nil {
		add("last", l.When, l.Ago, l.Status, l.Trigger, l.Who, l.Revision, l.Message, l.Class)
	}
	return b.String()
}
