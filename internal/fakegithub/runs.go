package fakegithub

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// newRun adds a workflow_dispatch run created at when; the caller holds the lock or owns s.
func (s *Server) newRun(workflow, ref string, when time.Time) *run {
	id := int64(30433642 + len(s.runs))
	b := fixture("workflow_run.json")
	stamp := when.UTC().Format(time.RFC3339) // GitHub's one-second resolution
	maps.Copy(b, map[string]any{
		"id": id, "head_branch": ref, "event": "workflow_dispatch", "status": "queued", "conclusion": nil,
		"path": ".github/workflows/" + workflow + "@" + ref, "run_number": 562 + len(s.runs),
		"created_at": stamp, "updated_at": stamp, "run_started_at": stamp, "head_sha": fmt.Sprintf("%040x", id),
		"url":      fmt.Sprintf("https://api.github.com/repos/%s/actions/runs/%d", s.cfg.Repo, id),
		"html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d", s.cfg.Repo, id),
		"jobs_url": fmt.Sprintf("https://api.github.com/repos/%s/actions/runs/%d/jobs", s.cfg.Repo, id),
	})
	r := &run{body: b, workflow: workflow, visibleAt: s.listings + s.cfg.AppearAfter}
	s.runs = append(s.runs, r)
	return r
}

// dispatchWorkflow is POST …/actions/workflows/:workflow/dispatches: 204 and, asynchronously as
// far as clients can tell, a new run.
func (s *Server) dispatchWorkflow(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ref    string         `json:"ref"`
		Inputs map[string]any `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		unprocessable(w, "Problems parsing JSON")
		return
	}
	wf := r.PathValue("workflow")
	switch {
	case !slices.Contains(s.cfg.Workflows, wf):
		notFound(w)
	case !slices.Contains(s.cfg.Refs, in.Ref):
		unprocessable(w, "No ref found for: "+in.Ref)
	case len(in.Inputs) > 10:
		unprocessable(w, "you may only define up to 10 `inputs` for a `workflow_dispatch` event")
	default:
		s.mu.Lock()
		s.newRun(wf, in.Ref, time.Now())
		s.mu.Unlock()
		reply(w, http.StatusNoContent, nil)
	}
}

// listRuns is GET …/actions/workflows/:workflow/runs filtered by event and branch, newest first.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.listings++
	runs := []map[string]any{}
	for i := len(s.runs) - 1; i >= 0; i-- {
		run := s.runs[i]
		if run.workflow != r.PathValue("workflow") || s.listings <= run.visibleAt ||
			(q.Get("event") != "" && run.body["event"] != q.Get("event")) ||
			(q.Get("branch") != "" && run.body["head_branch"] != q.Get("branch")) {
			continue
		}
		runs = append(runs, s.snapshot(run))
	}
	s.mu.Unlock()
	reply(w, http.StatusOK, map[string]any{"total_count": len(runs), "workflow_runs": runs})
}

// snapshot is the run's current state; the caller holds the lock.
func (s *Server) snapshot(r *run) map[string]any {
	b := maps.Clone(r.body)
	if b["status"] == "completed" {
		return b
	}
	switch {
	case r.reads == 0:
		b["status"] = "queued"
	case r.reads < s.cfg.Steps:
		b["status"] = "in_progress"
	default:
		b["status"], b["conclusion"] = "completed", s.cfg.Conclusion
	}
	return b
}

func (s *Server) find(id string) *run {
	n, _ := strconv.ParseInt(id, 10, 64)
	for _, r := range s.runs {
		if fmt.Sprint(r.body["id"]) == strconv.FormatInt(n, 10) {
			return r
		}
	}
	return nil
}

// getRun is GET …/actions/runs/:id; each read moves the run one step on (the first read shows
// it queued).
func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	run := s.find(r.PathValue("id"))
	var b map[string]any
	if run != nil {
		b = s.snapshot(run)
		run.reads++
	}
	s.mu.Unlock()
	if run == nil {
		notFound(w)
		return
	}
	reply(w, http.StatusOK, b)
}

// listJobs is GET …/actions/runs/:id/jobs.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	run := s.find(r.PathValue("id"))
	s.mu.Unlock()
	if run == nil {
		notFound(w)
		return
	}
	jobs := []map[string]any{}
	for i, j := range s.cfg.Jobs {
		b := fixture("workflow_job.json")
		id := int64(399444496 + i)
		maps.Copy(b, map[string]any{
			"id": id, "run_id": run.body["id"], "name": j.Name, "conclusion": j.Conclusion, "head_branch": run.body["head_branch"],
			"html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%v/job/%d", s.cfg.Repo, run.body["id"], id),
		})
		jobs = append(jobs, b)
	}
	reply(w, http.StatusOK, map[string]any{"total_count": len(jobs), "jobs": jobs})
}

// repositoryDispatch is POST …/dispatches.
func (s *Server) repositoryDispatch(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in["event_type"] == nil || in["event_type"] == "" {
		unprocessable(w, "Invalid request.\n\n\"event_type\" wasn't supplied.")
		return
	}
	s.mu.Lock()
	s.events = append(s.events, in)
	s.mu.Unlock()
	reply(w, http.StatusNoContent, nil)
}
