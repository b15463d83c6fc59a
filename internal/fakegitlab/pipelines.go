package fakegitlab

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// trigger is POST /projects/:id/trigger/pipeline: token, ref and variables as JSON (client
// libraries) or as a form (curl -F token=… -F "variables[K]=v"). An unknown token is 404, as
// GitLab answers.
func (s *Server) trigger(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token     string            `json:"token"`
		Ref       string            `json:"ref"`
		Variables map[string]string `json:"variables"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.reply(w, http.StatusBadRequest, map[string]any{"error": "token is missing"})
			return
		}
	} else {
		r.ParseMultipartForm(1 << 20)
		in.Token, in.Ref, in.Variables = r.FormValue("token"), r.FormValue("ref"), map[string]string{}
		for k, v := range r.Form {
			if name, ok := strings.CutPrefix(k, "variables["); ok && strings.HasSuffix(name, "]") {
				in.Variables[strings.TrimSuffix(name, "]")] = v[0]
			}
		}
	}
	if !s.project(r) || s.cfg.TriggerToken == "" || in.Token != s.cfg.TriggerToken {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not Found"})
		return
	}
	s.start(w, in.Ref, "trigger")
}

// createPipeline is POST /projects/:id/pipeline with an API token.
func (s *Server) createPipeline(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ref       string `json:"ref"`
		Variables []struct {
			Key, Value, VariableType string
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Ref == "" {
		s.reply(w, http.StatusBadRequest, map[string]any{"error": "ref is missing"})
		return
	}
	s.start(w, in.Ref, "api")
}

func (s *Server) start(w http.ResponseWriter, ref, source string) {
	if !slices.Contains(s.cfg.Refs, ref) {
		s.reply(w, http.StatusBadRequest, map[string]any{"message": map[string]any{"base": []string{"Reference not found"}}})
		return
	}
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	p := fixture("pipeline.json")
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	maps.Copy(p, map[string]any{
		"id": id, "iid": id - 1000, "project_id": s.cfg.ProjectID, "ref": ref, "source": source,
		"sha": fmt.Sprintf("%040x", id), "created_at": now, "updated_at": now,
		"web_url": fmt.Sprintf("https://gitlab.example.com/%s/-/pipelines/%d", s.cfg.Project, id),
	})
	pl := &pipeline{body: p}
	s.pipelines[id] = pl
	body := s.snapshot(pl)
	s.mu.Unlock()
	s.reply(w, http.StatusCreated, body)
}

// snapshot returns the pipeline at its current step; the caller holds the lock.
func (s *Server) snapshot(p *pipeline) map[string]any {
	status := s.cfg.Statuses[min(p.step, len(s.cfg.Statuses)-1)]
	body := maps.Clone(p.body)
	body["status"] = status
	if d, ok := body["detailed_status"].(map[string]any); ok {
		d = maps.Clone(d)
		d["text"], d["label"], d["group"], d["icon"] = status, status, status, "status_"+status
		body["detailed_status"] = d
	}
	return body
}

// getPipeline answers the pipeline and moves it one status on: the first read shows the status
// the trigger answered.
func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	p, ok := s.pipelines[id]
	var body map[string]any
	if ok {
		body = s.snapshot(p)
		p.step++
	}
	s.mu.Unlock()
	if !ok {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
		return
	}
	s.reply(w, http.StatusOK, body)
}

// listJobs is GET /projects/:id/pipelines/:pipeline_id/jobs with optional scope[] filters.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	p, ok := s.pipelines[id]
	s.mu.Unlock()
	if !ok {
		s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
		return
	}
	scope := r.URL.Query()["scope[]"]
	jobs := []map[string]any{}
	for i, j := range s.cfg.Jobs {
		if len(scope) > 0 && !slices.Contains(scope, j.Status) {
			continue
		}
		job := fixture("job.json")
		jobID := id*100 + int64(i)
		reason := any(nil)
		if j.Status == "failed" {
			reason = "script_failure"
		}
		maps.Copy(job, map[string]any{
			"id": jobID, "name": j.Name, "stage": j.Stage, "status": j.Status, "allow_failure": j.AllowFailure,
			"failure_reason": reason, "ref": p.body["ref"],
			"web_url":  fmt.Sprintf("https://gitlab.example.com/%s/-/jobs/%d", s.cfg.Project, jobID),
			"pipeline": map[string]any{"id": id, "project_id": s.cfg.ProjectID, "ref": p.body["ref"], "sha": p.body["sha"], "status": s.cfg.Statuses[len(s.cfg.Statuses)-1]},
		})
		jobs = append(jobs, job)
	}
	w.Header().Set("X-Total", strconv.Itoa(len(jobs)))
	w.Header().Set("X-Page", "1")
	w.Header().Set("X-Total-Pages", "1")
	s.reply(w, http.StatusOK, jobs)
}
