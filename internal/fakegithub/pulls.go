package fakegithub

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
)

// listPulls is GET …/pulls filtered by state, head (owner:branch) and base.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	owner, _, _ := strings.Cut(s.cfg.Repo, "/")
	s.mu.Lock()
	out := []map[string]any{}
	for _, p := range s.pulls {
		head := p["head"].(map[string]any)
		base := p["base"].(map[string]any)
		if (q.Get("state") == "" || p["state"] == q.Get("state")) &&
			(q.Get("head") == "" || owner+":"+head["ref"].(string) == q.Get("head")) &&
			(q.Get("base") == "" || base["ref"] == q.Get("base")) {
			out = append(out, maps.Clone(p))
		}
	}
	s.mu.Unlock()
	reply(w, http.StatusOK, out)
}

// createPull is POST …/pulls; a second open pull request for the same head and base is 422, as
// GitHub answers.
func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var in struct{ Title, Body, Head, Base string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" || in.Head == "" || in.Base == "" {
		unprocessable(w, "Validation Failed")
		return
	}
	owner, _, _ := strings.Cut(s.cfg.Repo, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pulls {
		if p["state"] == "open" && p["head"].(map[string]any)["ref"] == in.Head && p["base"].(map[string]any)["ref"] == in.Base {
			unprocessable(w, "Validation Failed: A pull request already exists for "+owner+":"+in.Head+".")
			return
		}
	}
	n := 1347 + len(s.pulls)
	p := fixture("pull_request.json")
	maps.Copy(p, map[string]any{
		"id": n, "number": n, "title": in.Title, "body": in.Body,
		"head":     map[string]any{"label": owner + ":" + in.Head, "ref": in.Head},
		"base":     map[string]any{"label": owner + ":" + in.Base, "ref": in.Base},
		"url":      fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", s.cfg.Repo, n),
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", s.cfg.Repo, n),
		"labels":   []any{},
	})
	s.pulls = append(s.pulls, p)
	reply(w, http.StatusCreated, p)
}

// editPull is PATCH …/pulls/:number.
func (s *Server) editPull(w http.ResponseWriter, r *http.Request) {
	s.updatePull(w, r, func(p map[string]any, body []byte) (any, bool) {
		var in map[string]any
		if json.Unmarshal(body, &in) != nil {
			return nil, false
		}
		for _, k := range []string{"title", "body"} {
			if v, ok := in[k]; ok {
				p[k] = v
			}
		}
		return p, true
	})
}

// addLabels is POST …/issues/:number/labels (pull requests are issues), with {"labels": [...]}
// or a bare array, both documented.
func (s *Server) addLabels(w http.ResponseWriter, r *http.Request) {
	s.updatePull(w, r, func(p map[string]any, body []byte) (any, bool) {
		var in struct{ Labels []string }
		if json.Unmarshal(body, &in.Labels) != nil && json.Unmarshal(body, &in) != nil {
			return nil, false
		}
		labels := p["labels"].([]any)
		for _, l := range in.Labels {
			labels = append(labels, map[string]any{"name": l, "color": "ededed", "default": false})
		}
		p["labels"] = labels
		return labels, true
	})
}

// updatePull applies change to the pull request of the path under the lock and replies with
// what it returns: 404 for an unknown pull request, 422 when the body does not parse.
func (s *Server) updatePull(w http.ResponseWriter, r *http.Request, change func(p map[string]any, body []byte) (any, bool)) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pull(r.PathValue("number"))
	if p == nil {
		notFound(w)
		return
	}
	out, ok := change(p, body)
	if !ok {
		unprocessable(w, "Problems parsing JSON")
		return
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) pull(number string) map[string]any {
	n, _ := strconv.Atoi(number)
	for _, p := range s.pulls {
		if p["number"] == n {
			return p
		}
	}
	return nil
}
