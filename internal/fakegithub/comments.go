package fakegithub

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
)

// listComments is GET …/issues/:number/comments, oldest first, with page and per_page and a
// Link header to the next page, as GitHub paginates.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	page, per = max(page, 1), min(per, 100)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pull(r.PathValue("number")) == nil {
		notFound(w)
		return
	}
	var all []map[string]any
	for _, c := range s.comments {
		if fmt.Sprint(c["issue_number"]) == r.PathValue("number") {
			out := maps.Clone(c)
			delete(out, "issue_number")
			all = append(all, out)
		}
	}
	from, to := min((page-1)*per, len(all)), min(page*per, len(all))
	if to < len(all) {
		next := *r.URL
		nq := next.Query()
		nq.Set("page", strconv.Itoa(page+1))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf("<http://%s%s>; rel=\"next\"", r.Host, next.RequestURI()))
	}
	page1 := all[from:to]
	if page1 == nil {
		page1 = []map[string]any{}
	}
	reply(w, http.StatusOK, page1)
}

// createComment is POST …/issues/:number/comments.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
		unprocessable(w, "Validation Failed: body can't be blank")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	number := r.PathValue("number")
	if s.pull(number) == nil {
		notFound(w)
		return
	}
	id := int64(1 + len(s.comments))
	c := fixture("issue_comment.json")
	maps.Copy(c, map[string]any{"id": id, "body": in.Body, "created_at": now(), "updated_at": now(),
		"url":       fmt.Sprintf("https://api.github.com/repos/%s/issues/comments/%d", s.cfg.Repo, id),
		"html_url":  fmt.Sprintf("https://github.com/%s/pull/%s#issuecomment-%d", s.cfg.Repo, number, id),
		"issue_url": fmt.Sprintf("https://api.github.com/repos/%s/issues/%s", s.cfg.Repo, number),
	})
	n, _ := strconv.Atoi(number)
	c["issue_number"] = n // not in GitHub's body: kept to list by issue; dropped from answers
	s.comments = append(s.comments, c)
	out := maps.Clone(c)
	delete(out, "issue_number")
	reply(w, http.StatusCreated, out)
}

// editComment is PATCH …/issues/comments/:id.
func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
		unprocessable(w, "Validation Failed: body can't be blank")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > int64(len(s.comments)) {
		notFound(w)
		return
	}
	c := s.comments[id-1]
	c["body"], c["updated_at"] = in.Body, now()
	out := maps.Clone(c)
	delete(out, "issue_number")
	reply(w, http.StatusOK, out)
}

// Comments returns the comments on issue or pull request number, oldest first.
func (s *Server) Comments(number int) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, c := range s.comments {
		if c["issue_number"] == number {
			out = append(out, maps.Clone(c))
		}
	}
	return out
}
