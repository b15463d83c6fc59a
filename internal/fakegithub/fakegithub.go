// Package fakegithub is an in-process GitHub REST API for tests: workflow_dispatch and its runs,
// run jobs, repository_dispatch, pull requests, deployments and their statuses, commit statuses,
// the pull requests of a commit and issue comments, answering with the JSON of GitHub's API
// documentation (testdata/) and recording every request for assertions. It serves under a
// non-empty base path, as a GitHub Enterprise Server does (/api/v3), so a client pointed at
// api.github.com or at the wrong path fails. See go-github's github_test.go setup for the shape.
//
//	gh := fakegithub.New(t, fakegithub.Config{Token: "ghp_…", Conclusion: "failure"})
//	forge.NewGitHub(gh.URL, "ghp_…") … gh.Requests()
package fakegithub

import (
	"embed"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/apitest"
)

//go:embed testdata/*.json
var testdata embed.FS

// BasePath is where the fake lives on its host; clients add /api/v3 as for an Enterprise Server.
const BasePath = "/github"

// Job is one job of every run the fake creates, with its conclusion.
type Job struct {
	Name, Conclusion string
}

// Config is the fake's one repository and how its runs behave.
type Config struct {
	// Repo is OWNER/NAME. Default: octo-org/app.
	Repo string
	// Token is the only bearer token accepted. Default: none (every call is 401).
	Token string
	// Workflows are the workflow files that accept workflow_dispatch. Default: deploy.yml.
	Workflows []string
	// Refs are the branches and tags. Default: main.
	Refs []string
	// Steps is how many reads a run stays queued/in_progress before it completes. Default: 2.
	Steps int
	// Conclusion of every run. Default: success.
	Conclusion string
	// AppearAfter is how many run listings miss a dispatched run before it shows, as GitHub
	// creates runs asynchronously. Default: 1.
	AppearAfter int
	// Jobs of every run. Default: build (conclusion = the run's).
	Jobs []Job
	// Commits are the SHAs of the repository's commits: deployments and statuses are accepted on
	// them, other SHAs are 422. AddPull adds the commits of a pull request. Default: none.
	Commits []string
	// Faults are answered before the API sees the request (paths below /api/v3), e.g. a 502 on
	// /repos/*/*/actions/runs/* while a run is followed. Default: none.
	Faults []apitest.Fault
}

// Request is one request the fake answered; its Path is below /api/v3.
type Request = apitest.Request

// Server is a running fake GitHub.
type Server struct {
	// URL is the GitHub URL a client is given (with the base path, without /api/v3).
	URL string

	cfg      Config
	log      *apitest.Log
	mu       sync.Mutex
	runs     []*run
	pulls    []map[string]any
	events   []map[string]any
	listings int

	deployments        []map[string]any
	deploymentStatuses []map[string]any
	statuses           []map[string]any
	comments           []map[string]any
	commitPulls        map[string][]int // commit SHA → numbers of the pull requests containing it
}

type run struct {
	body      map[string]any
	workflow  string
	reads     int
	visibleAt int // listing count from which it is listed
}

// New starts a fake GitHub for the duration of a test. It holds one completed workflow_dispatch
// run of every workflow on main from an hour ago, which a dispatch must not mistake for its own.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Repo == "" {
		cfg.Repo = "octo-org/app"
	}
	if len(cfg.Workflows) == 0 {
		cfg.Workflows = []string{"deploy.yml"}
	}
	if len(cfg.Refs) == 0 {
		cfg.Refs = []string{"main"}
	}
	if cfg.Steps == 0 {
		cfg.Steps = 2
	}
	if cfg.Conclusion == "" {
		cfg.Conclusion = "success"
	}
	if cfg.AppearAfter == 0 {
		cfg.AppearAfter = 1
	}
	if cfg.Jobs == nil {
		cfg.Jobs = []Job{{Name: "build", Conclusion: cfg.Conclusion}}
	}
	cfg.Commits = slices.Clone(cfg.Commits)
	s := &Server{cfg: cfg, log: apitest.NewLog(BasePath + "/api/v3"), commitPulls: map[string][]int{}}
	for _, wf := range cfg.Workflows {
		old := s.newRun(wf, "main", time.Now().Add(-time.Hour))
		old.body["status"], old.body["conclusion"] = "completed", "success"
		old.reads, old.visibleAt = cfg.Steps, 0
	}
	mux := http.NewServeMux()
	repo := BasePath + "/api/v3/repos/{owner}/{repo}"
	mux.HandleFunc("POST "+repo+"/actions/workflows/{workflow}/dispatches", s.authed(s.dispatchWorkflow))
	mux.HandleFunc("GET "+repo+"/actions/workflows/{workflow}/runs", s.authed(s.listRuns))
	mux.HandleFunc("GET "+repo+"/actions/runs/{id}", s.authed(s.getRun))
	mux.HandleFunc("GET "+repo+"/actions/runs/{id}/jobs", s.authed(s.listJobs))
	mux.HandleFunc("POST "+repo+"/dispatches", s.authed(s.repositoryDispatch))
	mux.HandleFunc("GET "+repo+"/pulls", s.authed(s.listPulls))
	mux.HandleFunc("POST "+repo+"/pulls", s.authed(s.createPull))
	mux.HandleFunc("PATCH "+repo+"/pulls/{number}", s.authed(s.editPull))
	mux.HandleFunc("POST "+repo+"/issues/{number}/labels", s.authed(s.addLabels))
	mux.HandleFunc("POST "+repo+"/deployments", s.authed(s.createDeployment))
	mux.HandleFunc("GET "+repo+"/deployments", s.authed(s.listDeployments))
	mux.HandleFunc("POST "+repo+"/deployments/{id}/statuses", s.authed(s.createDeploymentStatus))
	mux.HandleFunc("POST "+repo+"/statuses/{sha}", s.authed(s.setStatus))
	mux.HandleFunc("GET "+repo+"/commits/{sha}/pulls", s.authed(s.listCommitPulls))
	mux.HandleFunc("GET "+repo+"/issues/{number}/comments", s.authed(s.listComments))
	mux.HandleFunc("POST "+repo+"/issues/{number}/comments", s.authed(s.createComment))
	mux.HandleFunc("PATCH "+repo+"/issues/comments/{id}", s.authed(s.editComment))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
	s.URL, _ = apitest.Serve(t, s.log.Wrap(apitest.NewFaults(BasePath+"/api/v3", cfg.Faults).Wrap(mux)), false)
	s.URL += BasePath
	return s
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request { return s.log.Requests() }

// Events returns the repository_dispatch events received: event_type and client_payload.
func (s *Server) Events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.events...)
}

// Pulls returns the pull requests as the API shows them.
func (s *Server) Pulls() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.pulls))
	for i, p := range s.pulls {
		out[i] = maps.Clone(p)
	}
	return out
}

// authed checks the bearer token and the repository like GitHub: a bad token is 401 "Bad
// credentials", an unknown repository 404.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token := strings.TrimPrefix(strings.TrimPrefix(auth, "Bearer "), "token ")
		if s.cfg.Token == "" || token != s.cfg.Token {
			reply(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
			return
		}
		if r.PathValue("owner")+"/"+r.PathValue("repo") != s.cfg.Repo {
			notFound(w)
			return
		}
		h(w, r)
	}
}

func reply(w http.ResponseWriter, code int, v any) { apitest.Reply(w, code, v) }

func notFound(w http.ResponseWriter) {
	reply(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
}

func unprocessable(w http.ResponseWriter, msg string) {
	reply(w, http.StatusUnprocessableEntity, map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": "422"})
}

func fixture(name string) map[string]any { return apitest.Fixture(testdata, name) }
