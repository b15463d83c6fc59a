package fakegitlab

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/apitest"
)

// MergeRequest is a merge request the fake holds from the start, with the commits it brought.
type MergeRequest struct {
	Source, Target, Title string
	// State is opened, merged or closed. Default: merged.
	State string
	// Commits are the SHAs the merge request contains.
	Commits []string
}

// AddMergeRequest adds a merge request to the project and returns its iid. Its commits become
// commits of the project.
func (s *Server) AddMergeRequest(m MergeRequest) int64 {
	if m.State == "" {
		m.State = "merged"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	iid := int64(len(s.mrs) + 1)
	mr := fixture("merge_request.json")
	maps.Copy(mr, map[string]any{
		"id": 5000 + iid, "iid": iid, "project_id": s.cfg.ProjectID, "title": m.Title, "state": m.State,
		"source_branch": m.Source, "target_branch": m.Target, "source_project_id": s.cfg.ProjectID, "target_project_id": s.cfg.ProjectID,
		"sha": m.Commits[len(m.Commits)-1], "labels": []string{},
		"web_url":    fmt.Sprintf("https://gitlab.example.com/%s/-/merge_requests/%d", s.cfg.Project, iid),
		"references": map[string]any{"short": fmt.Sprintf("!%d", iid), "relative": fmt.Sprintf("!%d", iid), "full": fmt.Sprintf("%s!%d", s.cfg.Project, iid)},
	})
	if m.State == "merged" {
		mr["merged_at"] = "2026-01-02T10:00:00.000Z"
		mr["merge_commit_sha"] = fmt.Sprintf("%040x", 0xabc000+iid)
	}
	s.mrs = append(s.mrs, mr)
	for _, c := range m.Commits {
		s.commitMRs[c] = append(s.commitMRs[c], iid)
		if !slices.Contains(s.cfg.Commits, c) {
			s.cfg.Commits = append(s.cfg.Commits, c)
		}
	}
	return iid
}

// commit reports whether sha is a commit of the project; the caller holds the lock.
func (s *Server) commit(sha string) bool { return slices.Contains(s.cfg.Commits, sha) }

// setStatus is POST /projects/:id/statuses/:sha, with GitLab's rules: the status of the same
// name that is still pending or running is updated, else a new one is added; posting the state a
// status already has is 400 "Cannot transition status" (gitlab-foss#25807); an unknown commit is
// 404. Fields come as JSON (client libraries) or a form (curl).
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	in, err := readParams(r)
	if err != nil {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "state is missing"})
		return
	}
	state, name := in["state"], in["name"]
	if name == "" {
		name = in["context"]
	}
	if name == "" {
		name = "default"
	}
	event := map[string]string{"pending": "enqueue", "running": "run", "success": "succeed", "failed": "drop", "canceled": "cancel", "skipped": "skip"}[state]
	if event == "" {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "state does not have a valid value"})
		return
	}
	sha := r.PathValue("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.commit(sha) {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Commit Not Found"})
		return
	}
	var st map[string]any
	for i := len(s.statuses) - 1; i >= 0; i-- {
		if x := s.statuses[i]; x["sha"] == sha && x["name"] == name && (x["status"] == "pending" || x["status"] == "running") {
			st = x
			break
		}
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	if st == nil {
		st = fixture("commit_status.json")
		maps.Copy(st, map[string]any{"id": 9000 + len(s.statuses), "sha": sha, "name": name, "status": "created", "created_at": now,
			"started_at": nil, "finished_at": nil, "coverage": nil, "pipeline_id": 7000 + len(s.statuses)})
		s.statuses = append(s.statuses, st)
	}
	if st["status"] == state {
		s.reply(w, http.StatusBadRequest, map[string]any{"message": fmt.Sprintf("Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", event, state, event)})
		return
	}
	st["status"] = state
	for k, v := range map[string]string{"description": in["description"], "target_url": in["target_url"], "ref": in["ref"]} {
		if v != "" {
			st[k] = v
		}
	}
	switch state {
	case "running":
		st["started_at"] = now
	case "success", "failed", "canceled", "skipped":
		st["finished_at"] = now
	}
	s.reply(w, http.StatusCreated, st)
}

// listStatuses is GET /projects/:id/repository/commits/:sha/statuses, filtered by name, oldest
// first as GitLab lists them.
func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request) {
	sha, name := r.PathValue("sha"), r.URL.Query().Get("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.commit(sha) {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Commit Not Found"})
		return
	}
	out := []map[string]any{}
	for _, st := range s.statuses {
		if st["sha"] == sha && (name == "" || st["name"] == name) {
			out = append(out, maps.Clone(st))
		}
	}
	s.reply(w, http.StatusOK, out)
}

// commitMergeRequests is GET /projects/:id/repository/commits/:sha/merge_requests.
func (s *Server) commitMergeRequests(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.commit(sha) {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Commit Not Found"})
		return
	}
	out := []map[string]any{}
	for _, iid := range s.commitMRs[sha] {
		out = append(out, maps.Clone(s.mrs[iid-1]))
	}
	s.reply(w, http.StatusOK, out)
}

// Statuses returns the commit statuses set on sha ("" for every commit), oldest first.
func (s *Server) Statuses(sha string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, st := range s.statuses {
		if sha == "" || st["sha"] == sha {
			out = append(out, maps.Clone(st))
		}
	}
	return out
}

// PrintStatuses writes the commit statuses and merge request notes the fake holds, as a person
// would read them on GitLab: per commit, each status's name, state, description and link; then
// each note. make demo ends with it.
func (s *Server) PrintStatuses(w io.Writer) {
	sts := s.Statuses("")
	fmt.Fprintf(w, "GitLab %s: %d commit status(es)\n", s.cfg.Project, len(sts))
	for _, st := range sts {
		fmt.Fprintf(w, "  %.12s  %-16v %-8v %v", st["sha"], st["name"], st["status"], orNone(st["description"]))
		if u, _ := st["target_url"].(string); u != "" {
			fmt.Fprintf(w, "  → %s", u)
		}
		fmt.Fprintln(w)
	}
	s.mu.Lock()
	iids := slices.Sorted(maps.Keys(s.notes))
	for _, iid := range iids {
		for _, n := range s.notes[iid] {
			first, _, _ := strings.Cut(strings.TrimSpace(apitest.StripMarkers(n["body"].(string))), "\n")
			fmt.Fprintf(w, "  note %v on !%d: %s\n", n["id"], iid, first)
		}
	}
	s.mu.Unlock()
}

func orNone(v any) any {
	if v == nil || v == "" {
		return "-"
	}
	return v
}

// readParams reads a request's fields from JSON or a form.
func readParams(r *http.Request) (map[string]string, error) {
	out := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var raw map[string]any
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			return nil, err
		}
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				out[k] = v
			case float64:
				out[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				out[k] = strconv.FormatBool(v)
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	for k := range r.Form {
		out[k] = r.Form.Get(k)
	}
	return out, nil
}

// sortedNotes returns the notes of a merge request ordered as asked (order_by created_at or
// updated_at, sort asc or desc; GitLab's default: created_at desc); the caller holds the lock.
func (s *Server) sortedNotes(iid int64, orderBy, dir string) []map[string]any {
	notes := slices.Clone(s.notes[iid])
	if orderBy != "updated_at" {
		orderBy = "created_at"
	}
	sort.SliceStable(notes, func(i, j int) bool {
		a, b := notes[i][orderBy].(string), notes[j][orderBy].(string)
		if a == b {
			return toInt(notes[i]["id"]) < toInt(notes[j]["id"])
		}
		return a < b
	})
	if dir != "asc" {
		slices.Reverse(notes)
	}
	return notes
}
