package fakegithub

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/apitest"
)

// Pull is a pull request the fake holds from the start, with the commits it brought.
type Pull struct {
	Head, Base, Title string
	// Merged is a merged (closed) pull request; otherwise it is open.
	Merged bool
	// Commits are the SHAs the pull request contains.
	Commits []string
}

// AddPull adds a pull request to the repository and returns its number. Its commits become
// commits of the repository.
func (s *Server) AddPull(p Pull) int {
	owner, _, _ := strings.Cut(s.cfg.Repo, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 1347 + len(s.pulls)
	pr := fixture("pull_request.json")
	maps.Copy(pr, map[string]any{
		"id": n, "number": n, "title": p.Title, "state": "open", "labels": []any{},
		"head":     map[string]any{"label": owner + ":" + p.Head, "ref": p.Head, "sha": p.Commits[len(p.Commits)-1]},
		"base":     map[string]any{"label": owner + ":" + p.Base, "ref": p.Base},
		"url":      fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", s.cfg.Repo, n),
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", s.cfg.Repo, n),
	})
	if p.Merged {
		pr["state"], pr["merged_at"], pr["closed_at"] = "closed", "2026-01-02T10:00:00Z", "2026-01-02T10:00:00Z"
	}
	s.pulls = append(s.pulls, pr)
	for _, c := range p.Commits {
		s.commitPulls[c] = append(s.commitPulls[c], n)
		if !slices.Contains(s.cfg.Commits, c) {
			s.cfg.Commits = append(s.cfg.Commits, c)
		}
	}
	return n
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// createDeployment is POST …/deployments. As GitHub: an unknown ref is 422; without
// required_contexts, a commit whose statuses are not all success is 409; required_contexts: []
// skips that check.
func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ref                  string    `json:"ref"`
		Task                 string    `json:"task"`
		AutoMerge            *bool     `json:"auto_merge"`
		RequiredContexts     *[]string `json:"required_contexts"`
		Payload              any       `json:"payload"`
		Environment          string    `json:"environment"`
		Description          string    `json:"description"`
		TransientEnvironment bool      `json:"transient_environment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Ref == "" {
		unprocessable(w, "Invalid request.\n\n\"ref\" wasn't supplied.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.cfg.Commits, in.Ref) {
		unprocessable(w, "No ref found for: "+in.Ref)
		return
	}
	if in.RequiredContexts == nil {
		for _, st := range s.statuses {
			if st["sha"] == in.Ref && st["state"] != "success" {
				reply(w, http.StatusConflict, map[string]any{"message": "Conflict: Commit status checks failed for " + in.Ref + ".",
					"documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"})
				return
			}
		}
	}
	if in.Environment == "" {
		in.Environment = "production"
	}
	if in.Task == "" {
		in.Task = "deploy"
	}
	if in.Payload == nil {
		in.Payload = map[string]any{}
	}
	id := int64(1 + len(s.deployments))
	d := fixture("deployment.json")
	maps.Copy(d, map[string]any{
		"id": id, "sha": in.Ref, "ref": in.Ref, "task": in.Task, "payload": in.Payload, "environment": in.Environment,
		"original_environment": in.Environment, "description": in.Description, "transient_environment": in.TransientEnvironment,
		"production_environment": in.Environment == "production", "created_at": now(), "updated_at": now(),
		"url":          fmt.Sprintf("https://api.github.com/repos/%s/deployments/%d", s.cfg.Repo, id),
		"statuses_url": fmt.Sprintf("https://api.github.com/repos/%s/deployments/%d/statuses", s.cfg.Repo, id),
	})
	s.deployments = append(s.deployments, d)
	reply(w, http.StatusCreated, d)
}

// listDeployments is GET …/deployments filtered by sha, ref, task and environment, newest first,
// with per_page.
func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for i := len(s.deployments) - 1; i >= 0 && len(out) < per; i-- {
		d := s.deployments[i]
		if (q.Get("sha") == "" || d["sha"] == q.Get("sha")) && (q.Get("ref") == "" || d["ref"] == q.Get("ref")) &&
			(q.Get("task") == "" || d["task"] == q.Get("task")) && (q.Get("environment") == "" || d["environment"] == q.Get("environment")) {
			out = append(out, maps.Clone(d))
		}
	}
	reply(w, http.StatusOK, out)
}

// createDeploymentStatus is POST …/deployments/:id/statuses. With auto_inactive (default true),
// a success makes the environment's older deployments inactive.
func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *http.Request) {
	var in struct {
		State          string `json:"state"`
		LogURL         string `json:"log_url"`
		TargetURL      string `json:"target_url"`
		Description    string `json:"description"`
		Environment    string `json:"environment"`
		EnvironmentURL string `json:"environment_url"`
		AutoInactive   *bool  `json:"auto_inactive"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		unprocessable(w, "Problems parsing JSON")
		return
	}
	if !slices.Contains([]string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}, in.State) {
		unprocessable(w, "Validation Failed: state is not included in the list")
		return
	}
	if len(in.Description) > 140 {
		unprocessable(w, "Validation Failed: description is too long (maximum is 140 characters)")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > int64(len(s.deployments)) {
		notFound(w)
		return
	}
	d := s.deployments[id-1]
	env := in.Environment
	if env == "" {
		env, _ = d["environment"].(string)
	}
	if in.LogURL == "" {
		in.LogURL = in.TargetURL
	}
	st := fixture("deployment_status.json")
	maps.Copy(st, map[string]any{
		"id": int64(1 + len(s.deploymentStatuses)), "state": in.State, "description": in.Description, "environment": env,
		"target_url": in.LogURL, "log_url": in.LogURL, "environment_url": in.EnvironmentURL, "created_at": now(), "updated_at": now(),
		"deployment_url": d["url"], "url": fmt.Sprintf("%s/statuses/%d", d["url"], 1+len(s.deploymentStatuses)),
		"deployment_id": id, // not in GitHub's body: kept for Deployments(); dropped from answers
	})
	if in.State == "success" && (in.AutoInactive == nil || *in.AutoInactive) {
		for _, old := range s.deploymentStatuses {
			if od := s.deployments[old["deployment_id"].(int64)-1]; od["environment"] == env && od["id"] != d["id"] {
				od["inactive"] = true
			}
		}
	}
	s.deploymentStatuses = append(s.deploymentStatuses, st)
	out := maps.Clone(st)
	delete(out, "deployment_id")
	reply(w, http.StatusCreated, out)
}

// setStatus is POST …/statuses/:sha (the commit status API).
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	var in struct {
		State, TargetURL, Description, Context string
	}
	var raw map[string]string
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		unprocessable(w, "Problems parsing JSON")
		return
	}
	in.State, in.TargetURL, in.Description, in.Context = raw["state"], raw["target_url"], raw["description"], raw["context"]
	if !slices.Contains([]string{"error", "failure", "pending", "success"}, in.State) {
		unprocessable(w, "Validation Failed: state is not included in the list")
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	sha := r.PathValue("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.cfg.Commits, sha) {
		unprocessable(w, "No commit found for SHA: "+sha)
		return
	}
	st := fixture("status.json")
	maps.Copy(st, map[string]any{"id": 1 + len(s.statuses), "state": in.State, "description": in.Description, "target_url": in.TargetURL,
		"context": in.Context, "created_at": now(), "updated_at": now(), "sha": sha,
		"url": fmt.Sprintf("https://api.github.com/repos/%s/statuses/%s", s.cfg.Repo, sha)})
	s.statuses = append(s.statuses, st)
	reply(w, http.StatusCreated, st)
}

// commitPulls is GET …/commits/:sha/pulls.
func (s *Server) listCommitPulls(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.cfg.Commits, sha) {
		unprocessable(w, "No commit found for SHA: "+sha)
		return
	}
	out := []map[string]any{}
	for _, n := range s.commitPulls[sha] {
		out = append(out, maps.Clone(s.pull(strconv.Itoa(n))))
	}
	reply(w, http.StatusOK, out)
}

// Deployments returns the deployments, oldest first, each with its statuses under "statuses"
// (oldest first) and "inactive" when a later success replaced it.
func (s *Server) Deployments() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = maps.Clone(d)
		var sts []map[string]any
		for _, st := range s.deploymentStatuses {
			if st["deployment_id"] == d["id"] {
				sts = append(sts, maps.Clone(st))
			}
		}
		out[i]["statuses"] = sts
	}
	return out
}

// CommitStatuses returns the commit statuses set (POST …/statuses/:sha), oldest first.
func (s *Server) CommitStatuses() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.statuses))
	for i, st := range s.statuses {
		out[i] = maps.Clone(st)
	}
	return out
}

// PrintStatuses writes the deployments, commit statuses and pull request comments the fake
// holds, as a person would read them on GitHub. make demo ends with it.
func (s *Server) PrintStatuses(w io.Writer) {
	deps := s.Deployments()
	fmt.Fprintf(w, "GitHub %s: %d deployment(s)\n", s.cfg.Repo, len(deps))
	for _, d := range deps {
		fmt.Fprintf(w, "  %.12s  environment %v", d["sha"], d["environment"])
		if d["inactive"] == true {
			fmt.Fprint(w, " (inactive)")
		}
		fmt.Fprintln(w)
		for _, st := range d["statuses"].([]map[string]any) {
			fmt.Fprintf(w, "    %-11v %v  → %v\n", st["state"], st["description"], st["log_url"])
		}
	}
	for _, st := range s.CommitStatuses() {
		fmt.Fprintf(w, "  %.12s  status %v %v %v  → %v\n", st["sha"], st["context"], st["state"], st["description"], st["target_url"])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comments {
		first, _, _ := strings.Cut(strings.TrimSpace(apitest.StripMarkers(c["body"].(string))), "\n")
		fmt.Fprintf(w, "  comment %v on #%v: %s\n", c["id"], c["issue_number"], first)
	}
}
