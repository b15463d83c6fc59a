package fakegitlab

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// noteMR returns the iid of the merge request of the path, 0 when unknown; the caller holds the
// lock.
func (s *Server) noteMR(r *http.Request) int64 {
	iid, _ := strconv.ParseInt(r.PathValue("iid"), 10, 64)
	if iid < 1 || iid > int64(len(s.mrs)) {
		return 0
	}
	return iid
}

// listNotes is GET /projects/:id/merge_requests/:iid/notes with order_by, sort, page and per_page,
// and GitLab's pagination headers (X-Page, X-Next-Page, X-Total-Pages).
func (s *Server) listNotes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	iid := s.noteMR(r)
	notes := s.sortedNotes(iid, q.Get("order_by"), q.Get("sort"))
	s.mu.Unlock()
	if iid == 0 {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	page, per = max(page, 1), min(max(per, 1), 100)
	if q.Get("per_page") == "" {
		per = 20
	}
	pages := max((len(notes)+per-1)/per, 1)
	from, to := min((page-1)*per, len(notes)), min(page*per, len(notes))
	w.Header().Set("X-Page", strconv.Itoa(page))
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	w.Header().Set("X-Total", strconv.Itoa(len(notes)))
	w.Header().Set("X-Total-Pages", strconv.Itoa(pages))
	if page < pages {
		w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
	} else {
		w.Header().Set("X-Next-Page", "")
	}
	s.reply(w, http.StatusOK, notes[from:to])
}

// createNote is POST /projects/:id/merge_requests/:iid/notes.
func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "body is missing"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iid := s.noteMR(r)
	if iid == 0 {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
		return
	}
	s.nextNote++
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	n := fixture("note.json")
	maps.Copy(n, map[string]any{"id": 300 + s.nextNote, "body": in.Body, "created_at": now, "updated_at": now,
		"noteable_id": 5000 + iid, "noteable_iid": iid, "project_id": s.cfg.ProjectID})
	s.notes[iid] = append(s.notes[iid], n)
	s.reply(w, http.StatusCreated, n)
}

// updateNote is PUT /projects/:id/merge_requests/:iid/notes/:note_id.
func (s *Server) updateNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "body is missing"})
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("note"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.notes[s.noteMR(r)] {
		if toInt(n["id"]) == id {
			n["body"], n["updated_at"] = in.Body, time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			s.reply(w, http.StatusOK, n)
			return
		}
	}
	s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
}

// Notes returns the notes of merge request iid, oldest first.
func (s *Server) Notes(iid int64) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.notes[iid]))
	for i, n := range s.notes[iid] {
		out[i] = maps.Clone(n)
	}
	return out
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return -1
}
