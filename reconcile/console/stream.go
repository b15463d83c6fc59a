package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/reconcile/api"
)

// streamPing keeps idle streams (and the proxies on their way) open.
const streamPing = 20 * time.Second

// handleStream is the one live-update stream of an open page (server-sent events):
//
//	GET /stream                     every app the principal sees: event "app", a table row
//	GET /apps/NAME/stream           that app: event "app", the page header
//	GET /apps/NAME/stream?pod=P&container=C   also its log lines: event "log" (JSON), "logend"
//
// A stream that falls behind gets event "reload".
func (c *Console) handleStream(w http.ResponseWriter, r *http.Request) {
	p := principal(r.Context())
	name := r.PathValue("name")
	var app *api.AppState
	if name != "" {
		var ok bool
		if app, ok = c.app(w, r); !ok {
			return
		}
	}
	sub, ok := c.hub.subscribe(p, name, since(r))
	if !ok {
		http.Error(w, "too many open pages; close some", http.StatusServiceUnavailable)
		return
	}
	defer c.hub.unsubscribe(sub)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := writeEvent(w, event, data); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	sendID := func(id uint64, event, data string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, "id: %d\n", id); err != nil {
			return false
		}
		return send(event, data)
	}
	if !send("hello", "") {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	logs := make(chan api.LogLine, 64)
	logDone := make(chan error, 1)
	if pod := r.URL.Query().Get("pod"); app != nil && pod != "" {
		q := api.LogQuery{Pod: pod, Container: r.URL.Query().Get("container"), Follow: true, TailLines: 500}
		go func() {
			logDone <- c.b.Logs(ctx, p, name, q, func(l api.LogLine) error {
				select {
				case logs <- l:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		}()
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		var ok bool
		select {
		case <-ctx.Done():
			return
		case <-sub.behind:
			send("reload", "")
			return
		case e := <-sub.ch:
			ok = sendID(e.seq, "app", c.fragment(e.st, name != ""))
		case l := <-logs:
			b, _ := json.Marshal(l)
			ok = send("log", string(b))
		case err := <-logDone:
			msg := "the log stream ended"
			if err != nil && !errors.Is(err, context.Canceled) {
				msg = err.Error()
			}
			ok = send("logend", msg)
		case <-ping.C:
			_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, err := io.WriteString(w, ": ping\n\n")
			ok = err == nil && rc.Flush() == nil
		}
		if !ok {
			return
		}
	}
}

type cursorKey struct{}

// streamURL returns the URL of a page's stream at path with query q: it asks for the states
// published since the request began (authed takes the hub's cursor before the page reads any
// state), so a page never misses the end of a sync that came between its render and its stream.
func streamURL(r *http.Request, path string, q url.Values) string {
	n, _ := r.Context().Value(cursorKey{}).(uint64)
	if q == nil {
		q = url.Values{}
	}
	q.Set("since", strconv.FormatUint(n, 10))
	return path + "?" + q.Encode()
}

// since is where a stream starts: the last event the browser saw when it reconnects
// (Last-Event-ID), else the cursor of its page (?since=). A stream without either gets what
// comes next only.
func since(r *http.Request) uint64 {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("since")
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	return n
}

// fragment renders an app's new state as the part of the page it replaces: its overview row,
// or its page header.
func (c *Console) fragment(st api.AppState, appPage bool) string {
	if !appPage {
		rw := c.rowOf(&st)
		h, err := c.rowHTML(&rw)
		if err != nil {
			c.log.Error("console: rendering", "template", "row", "error", err)
		}
		return string(h)
	}
	name, data := "app-header", &appPageData{App: st, Running: c.running(&st)}
	var b bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		c.log.Error("console: rendering", "template", name, "error", err)
		return ""
	}
	return b.String()
}

// writeEvent writes one server-sent event; each line of data becomes a data: line (the browser
// joins them with newlines). Carriage returns are dropped: a browser ends a line at a bare CR
// too, so one in an app's text could otherwise start a field of its own.
func writeEvent(w io.Writer, event, data string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "event: %s\n", event)
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r", ""), "\n") {
		b.WriteString("data: ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
