// Package fakegitlab is an in-process GitLab REST API (v4) for tests: the pipeline trigger,
// pipeline, job, merge request, commit status and merge request note endpoints tagrelay uses, answering with the JSON of GitLab's
// API documentation (testdata/) and recording every request for assertions. It serves under a
// non-empty base path, as a GitLab behind a relative URL root does, so clients that drop the
// base path fail. See go-github's github_test.go setup for the shape.
//
//	gl := fakegitlab.New(t, fakegitlab.Config{TriggerToken: "glptt-…", Statuses: []string{"running", "failed"}})
//	forge.NewGitLab(gl.URL, "") … gl.Requests()
package fakegitlab

import (
	"embed"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/apitest"
)

//go:embed testdata/*.json
var testdata embed.FS

// BasePath is where the fake GitLab lives on its host (a relative URL root).
const BasePath = "/gitlab"

// Job is one job of every pipeline the fake creates, in its final state.
type Job struct {
	Name, Stage, Status string
	AllowFailure        bool
}

// Config is the fake's one project and how its pipelines behave.
type Config struct {
	// ProjectID and Project are the project's numeric ID and full path. Default: 42, group/app.
	ProjectID int64
	Project   string
	// TriggerToken is the pipeline trigger token accepted for the project. Default: none.
	TriggerToken string
	// APIToken is the PRIVATE-TOKEN accepted. Default: none.
	APIToken string
	// Public lets anonymous clients read the project's pipelines. Default: false (404, as GitLab).
	Public bool
	// Refs are the project's branches and tags. Default: main.
	Refs []string
	// Statuses are the statuses a pipeline goes through: the trigger answers the first, each
	// GET of the pipeline the next, and the last one stays. Default: created, pending, running,
	// success.
	Statuses []string
	// Jobs of every pipeline. Default: build and test, both success.
	Jobs []Job
	// Faults are answered before the API sees the request (paths below /api/v4). Default: none.
	Faults []apitest.Fault
	// Commits are the SHAs of the project's commits: commit statuses are accepted on them, other
	// SHAs are 404. AddMergeRequest adds the commits of a merge request. Default: none.
	Commits []string
	// TLS serves HTTPS with a certificate of its own, trusted by no system: Server.CAFile is
	// what a client must trust. Default: plain HTTP.
	TLS bool
}

// Request is one request the fake answered; its Path is below /api/v4, escaped as sent:
// /projects/group%2Fapp/trigger/pipeline.
type Request = apitest.Request

// Server is a running fake GitLab.
type Server struct {
	// URL is the GitLab URL a client is given (with the base path, without /api/v4).
	URL string
	// CAFile is the PEM file of the certificate to trust with Config.TLS, "" otherwise.
	CAFile string

	cfg       Config
	log       *apitest.Log
	mu        sync.Mutex
	pipelines map[int64]*pipeline
	mrs       []map[string]any
	nextID    int64
	statuses  []map[string]any
	commitMRs map[string][]int64         // commit SHA → iids of the merge requests containing it
	notes     map[int64][]map[string]any // iid → notes, oldest first
	nextNote  int64
	srv       *httptest.Server
}

type pipeline struct {
	body map[string]any
	step int
}

// New starts a fake GitLab for the duration of a test.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake GitLab outside a test (make demo); Close stops it.
func Start(cfg Config) (*Server, error) {
	if cfg.ProjectID == 0 {
		cfg.ProjectID = 42
	}
	if cfg.Project == "" {
		cfg.Project = "group/app"
	}
	if len(cfg.Refs) == 0 {
		cfg.Refs = []string{"main"}
	}
	if len(cfg.Statuses) == 0 {
		cfg.Statuses = []string{"created", "pending", "running", "success"}
	}
	if cfg.Jobs == nil {
		cfg.Jobs = []Job{{Name: "build", Stage: "build", Status: "success"}, {Name: "test", Stage: "test", Status: "success"}}
	}
	cfg.Commits = slices.Clone(cfg.Commits)
	s := &Server{cfg: cfg, log: apitest.NewLog(BasePath + "/api/v4"), pipelines: map[int64]*pipeline{}, nextID: 1000,
		commitMRs: map[string][]int64{}, notes: map[int64][]map[string]any{}}
	mux := http.NewServeMux()
	api := BasePath + "/api/v4/projects/{project}"
	mux.HandleFunc("POST "+api+"/trigger/pipeline", s.trigger)
	mux.HandleFunc("POST "+api+"/pipeline", s.authed(s.createPipeline))
	mux.HandleFunc("GET "+api+"/pipelines/{id}", s.authed(s.getPipeline))
	mux.HandleFunc("GET "+api+"/pipelines/{id}/jobs", s.authed(s.listJobs))
	mux.HandleFunc("GET "+api+"/merge_requests", s.authed(s.listMRs))
	mux.HandleFunc("POST "+api+"/merge_requests", s.authed(s.createMR))
	mux.HandleFunc("PUT "+api+"/merge_requests/{iid}", s.authed(s.updateMR))
	mux.HandleFunc("POST "+api+"/statuses/{sha}", s.authed(s.setStatus))
	mux.HandleFunc("GET "+api+"/repository/commits/{sha}/statuses", s.authed(s.listStatuses))
	mux.HandleFunc("GET "+api+"/repository/commits/{sha}/merge_requests", s.authed(s.commitMergeRequests))
	mux.HandleFunc("GET "+api+"/merge_requests/{iid}/notes", s.authed(s.listNotes))
	mux.HandleFunc("POST "+api+"/merge_requests/{iid}/notes", s.authed(s.createNote))
	mux.HandleFunc("PUT "+api+"/merge_requests/{iid}/notes/{note}", s.authed(s.updateNote))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, http.StatusNotFound, map[string]any{"error": "404 Not Found"})
	})
	h := s.log.Wrap(apitest.NewFaults(BasePath+"/api/v4", cfg.Faults).Wrap(mux))
	if !cfg.TLS {
		s.srv = httptest.NewServer(h)
	} else {
		s.srv = httptest.NewTLSServer(h)
		dir, err := os.MkdirTemp("", "fakegitlab-")
		if err != nil {
			s.srv.Close()
			return nil, err
		}
		s.CAFile = filepath.Join(dir, "ca.pem")
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
		if err := os.WriteFile(s.CAFile, block, 0o600); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.URL = s.srv.URL + BasePath
	return s, nil
}

// Close stops the server and removes its CA file.
func (s *Server) Close() {
	s.srv.Close()
	if s.CAFile != "" {
		os.RemoveAll(filepath.Dir(s.CAFile))
	}
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request { return s.log.Requests() }

// MergeRequests returns the merge requests of the project as the API shows them.
func (s *Server) MergeRequests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, len(s.mrs))
	for i, mr := range s.mrs {
		out[i] = maps.Clone(mr)
	}
	return out
}

// project reports whether the path value names the project, by ID or by (escaped) path.
func (s *Server) project(r *http.Request) bool {
	p := r.PathValue("project")
	return p == s.cfg.Project || p == jsonNumber(s.cfg.ProjectID)
}

// authed checks the PRIVATE-TOKEN (or Bearer) header like GitLab: a wrong token is 401, no token
// on a private project is 404.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("PRIVATE-TOKEN")
		if token == "" {
			token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		switch {
		case token != "" && token != s.cfg.APIToken:
			s.reply(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
		case !s.project(r) || (token == "" && (!s.cfg.Public || r.Method != http.MethodGet)):
			s.reply(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
		default:
			h(w, r)
		}
	}
}

func (s *Server) reply(w http.ResponseWriter, code int, v any) { apitest.Reply(w, code, v) }

func fixture(name string) map[string]any { return apitest.Fixture(testdata, name) }

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
