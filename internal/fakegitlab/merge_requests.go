package fakegitlab

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

type mrInput struct {
	Title              *string `json:"title"`
	Description        *string `json:"description"`
	SourceBranch       string  `json:"source_branch"`
	TargetBranch       string  `json:"target_branch"`
	Labels             string  `json:"labels"`
	AddLabels          string  `json:"add_labels"`
	RemoveSourceBranch *bool   `json:"remove_source_branch"`
}

// listMRs is GET /projects/:id/merge_requests filtered by state, source_branch and target_branch.
func (s *Server) listMRs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	out := []map[string]any{}
	for _, mr := range s.mrs {
		if (q.Get("state") == "" || mr["state"] == q.Get("state")) &&
			(q.Get("source_branch") == "" || mr["source_branch"] == q.Get("source_branch")) &&
			(q.Get("target_branch") == "" || mr["target_branch"] == q.Get("target_branch")) {
			out = append(out, maps.Clone(mr))
		}
	}
	s.mu.Unlock()
	s.reply(w, http.StatusOK, out)
}

// createMR is POST /projects/:id/merge_requests; an open MR between the same branches is 409,
// as GitLab answers.
func (s *Server) createMR(w http.ResponseWriter, r *http.Request) {
	var in mrInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == nil || in.SourceBranch == "" || in.TargetBranch == "" {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "title is missing, source_branch is missing, target_branch is missing"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mr := range s.mrs {
		if mr["state"] == "opened" && mr["source_branch"] == in.SourceBranch && mr["target_branch"] == in.TargetBranch {
			s.reply(w, http.StatusConflict, map[string]any{"message": []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%v", mr["iid"])}})
			return
		}
	}
	iid := len(s.mrs) + 1
	mr := fixture("merge_request.json")
	maps.Copy(mr, map[string]any{
		"id": 5000 + iid, "iid": iid, "project_id": s.cfg.ProjectID, "title": *in.Title, "description": deref(in.Description),
		"source_branch": in.SourceBranch, "target_branch": in.TargetBranch, "labels": splitLabels(in.Labels),
		"should_remove_source_branch": in.RemoveSourceBranch != nil && *in.RemoveSourceBranch,
		"source_project_id":           s.cfg.ProjectID, "target_project_id": s.cfg.ProjectID,
		"web_url":    fmt.Sprintf("https://gitlab.example.com/%s/-/merge_requests/%d", s.cfg.Project, iid),
		"references": map[string]any{"short": fmt.Sprintf("!%d", iid), "relative": fmt.Sprintf("!%d", iid), "full": fmt.Sprintf("%s!%d", s.cfg.Project, iid)},
	})
	s.mrs = append(s.mrs, mr)
	s.reply(w, http.StatusCreated, mr)
}

// updateMR is PUT /projects/:id/merge_requests/:iid.
func (s *Server) updateMR(w http.ResponseWriter, r *http.Request) {
	iid, _ := strconv.Atoi(r.PathValue("iid"))
	var in mrInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if iid < 1 || iid > len(s.mrs) {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
		return
	}
	mr := s.mrs[iid-1]
	if in.Title != nil {
		mr["title"] = *in.Title
	}
	if in.Description != nil {
		mr["description"] = *in.Description
	}
	labels, _ := mr["labels"].([]string)
	for _, l := range splitLabels(in.AddLabels) {
		if !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	mr["labels"] = labels
	s.reply(w, http.StatusOK, mr)
}

func splitLabels(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
