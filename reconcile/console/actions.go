package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// The actions on an app. Each one is confirmed first: GET /apps/NAME/ACTION shows what it will
// do (a page, or with ?fragment=dialog the body of the page's dialog), and its form POSTs to
// the same URL with the session's CSRF token.
var actions = map[string]string{
	"sync":     "Sync",
	"restart":  "Restart",
	"rollback": "Roll back",
	"unpin":    "Unpin",
}

// confirmData is an action's confirmation.
type confirmData struct {
	*appPageData
	Action, Label string
	To            int             // rollback: the history entry
	Target        *api.SyncResult // rollback: the entry's sync
}

func (c *Console) handleConfirm(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	label, ok := actions[action]
	if !ok {
		c.fail(w, r, http.StatusNotFound, errors.New("no such page"))
		return
	}
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	d := &confirmData{appPageData: c.appPage(w, r, st, action), Action: action, Label: label}
	switch action {
	case "sync":
		d.Preview = c.preview(r, st.Name)
	case "rollback":
		to, err := c.rollbackTarget(r, st.Name)
		if err != nil {
			c.backendError(w, r, err)
			return
		}
		d.To, d.Target = to.n, to.res
	}
	name := "confirm.html"
	if r.URL.Query().Get("fragment") == "dialog" {
		name = "confirm-body"
	}
	c.render(w, http.StatusOK, name, d)
}

type historyEntry struct {
	n   int
	res *api.SyncResult
}

// rollbackTarget reads the history entry a rollback form names (?to=N, 1-based).
func (c *Console) rollbackTarget(r *http.Request, name string) (historyEntry, error) {
	to, err := strconv.Atoi(r.FormValue("to"))
	if err != nil || to < 1 {
		return historyEntry{}, errdefs.Invalid(errors.New("pick a history entry to roll back to"))
	}
	hist, err := c.b.History(r.Context(), principal(r.Context()), name)
	if err != nil {
		return historyEntry{}, err
	}
	if to > len(hist) {
		return historyEntry{}, errdefs.NotFound(fmt.Errorf("history entry %d does not exist (%d entries)", to, len(hist)))
	}
	return historyEntry{n: to, res: &hist[to-1]}, nil
}

// handleAction runs a confirmed action and redirects to the app's page, which shows the outcome
// once (a flash) while the live stream shows the app's state change.
func (c *Console) handleAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if _, ok := actions[action]; !ok {
		c.fail(w, r, http.StatusNotFound, errors.New("no such action"))
		return
	}
	st, ok := c.app(w, r)
	if !ok {
		return
	}
	p := principal(r.Context())
	// An action waits for the app's running sync, then answers once applied: the server's
	// write deadline must not cut it (it is set again for the redirect).
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	var res *api.SyncResult
	var err error
	switch action {
	case "sync":
		res, err = c.b.Sync(r.Context(), p, st.Name, api.SyncRequest{AllowNoop: r.PostFormValue("allowNoop") == "1"})
	case "restart":
		res, err = c.b.Sync(r.Context(), p, st.Name, api.SyncRequest{Restart: true})
	case "rollback":
		to, terr := strconv.Atoi(r.PostFormValue("to"))
		if terr != nil || to < 1 {
			c.fail(w, r, http.StatusBadRequest, errors.New("pick a history entry to roll back to"))
			return
		}
		res, err = c.b.Rollback(r.Context(), p, st.Name, to)
	case "unpin":
		err = c.b.Unpin(r.Context(), p, st.Name)
	}
	_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	c.log.Info("console action", "app", st.Name, "action", action, "principal", p.Name, "error", err)
	c.setFlash(w, r, outcome(actions[action], res, err))
	http.Redirect(w, r, "/apps/"+url.PathEscape(st.Name), http.StatusSeeOther)
}

// outcome says what an action did, in one line.
func outcome(label string, res *api.SyncResult, err error) flash {
	if res == nil {
		if err != nil {
			return flash{Kind: "error", Text: label + " failed: " + err.Error()}
		}
		return flash{Kind: "ok", Text: label + ": done"}
	}
	var changed []string
	for _, ic := range res.Images {
		if ic.Changed() {
			changed = append(changed, fmt.Sprintf("%s %s → %s", ic.Container, orNew(ic.Before), ic.After))
		}
	}
	text := fmt.Sprintf("%s: %s at %s", label, res.Status, api.ShortRevision(res.Revision))
	if len(changed) > 0 {
		text += "; " + strings.Join(changed, ", ")
	}
	if res.Message != "" {
		text += ". " + res.Message
	}
	if res.Hint != "" {
		text += " (" + res.Hint + ")"
	}
	kind := "ok"
	switch res.Status {
	case api.StatusNoopRefused, api.StatusRefused:
		kind = "warn"
	case api.StatusFailed:
		kind = "error"
	}
	return flash{Kind: kind, Text: text}
}

func orNew(s string) string {
	if s == "" {
		return "(new)"
	}
	return s
}
