package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// GitLab calls one GitLab instance's REST API (v4).
type GitLab struct {
	client  *gitlab.Client
	base    string
	hasAuth bool
	log     *slog.Logger
}

// NewGitLab returns a client of the GitLab at baseURL (https://gitlab.example.com, with or
// without /api/v4), authenticated with an API token (personal, project or group access token,
// sent as PRIVATE-TOKEN), or anonymous when token is "". Anonymous clients can still trigger
// pipelines with a trigger token and follow pipelines of public projects.
func NewGitLab(baseURL, token string, opts ...Option) (*GitLab, error) {
	o := makeOptions(opts)
	if strings.TrimSpace(baseURL) == "" {
		return nil, errdefs.Invalid(errors.New("no GitLab URL given"))
	}
	copts := []gitlab.ClientOptionFunc{
		gitlab.WithBaseURL(baseURL),
		gitlab.WithUserAgent(userAgent),
		gitlab.WithHTTPClient(o.httpClient()),
		gitlab.WithoutRetries(), // the retries are forge's, as for GitHub (retry.go)
		gitlab.WithURLWarningLogger(o.logger),
	}
	var as gitlab.AuthSource = gitlab.Unauthenticated{}
	if token != "" {
		as = gitlab.AccessTokenAuthSource{Token: token}
	}
	c, err := gitlab.NewAuthSourceClient(as, copts...)
	if err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("GitLab URL %q: %w", baseURL, err))
	}
	return &GitLab{client: c, base: strings.TrimSuffix(c.BaseURL().String(), "/"), hasAuth: token != "", log: o.logger}, nil
}

// TriggerPipeline starts a pipeline on ref with a pipeline trigger token
// (POST /projects/:id/trigger/pipeline). The token travels in the request body.
// https://docs.gitlab.com/api/pipeline_triggers/#trigger-a-pipeline-with-a-token
func (g *GitLab) TriggerPipeline(ctx context.Context, project, ref string, vars map[string]string, triggerToken string) (*Run, error) {
	if triggerToken == "" {
		return nil, errdefs.Invalid(errors.New("no trigger token given"))
	}
	opt := &gitlab.RunPipelineTriggerOptions{Ref: &ref, Token: &triggerToken, Variables: vars}
	p, _, err := g.client.PipelineTriggers.RunPipelineTrigger(project, opt, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("triggering a pipeline of %s on %s", project, ref), err, true)
	}
	return pipelineRun(p), nil
}

// CreatePipeline starts a pipeline on ref with the client's API token (POST /projects/:id/pipeline).
// https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline
func (g *GitLab) CreatePipeline(ctx context.Context, project, ref string, vars map[string]string) (*Run, error) {
	opt := &gitlab.CreatePipelineOptions{Ref: &ref}
	if len(vars) > 0 {
		list := make([]*gitlab.PipelineVariableOptions, 0, len(vars))
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			list = append(list, &gitlab.PipelineVariableOptions{Key: gitlab.Ptr(k), Value: gitlab.Ptr(vars[k]),
				VariableType: gitlab.Ptr(gitlab.EnvVariableType)})
		}
		opt.Variables = &list
	}
	p, _, err := g.client.Pipelines.CreatePipeline(project, opt, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("creating a pipeline of %s on %s", project, ref), err, false)
	}
	return pipelineRun(p), nil
}

// Pipeline returns the current state of a pipeline.
func (g *GitLab) Pipeline(ctx context.Context, project string, id int64) (*Run, error) {
	p, _, err := g.client.Pipelines.GetPipeline(project, id, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("reading pipeline %d of %s", id, project), err, false)
	}
	return pipelineRun(p), nil
}

// Jobs returns the pipeline's jobs in one of the given states (all jobs when none is given).
func (g *GitLab) Jobs(ctx context.Context, project string, id int64, states ...string) ([]Job, error) {
	opt := &gitlab.ListJobsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}
	if len(states) > 0 {
		scope := make([]gitlab.BuildStateValue, len(states))
		for i, s := range states {
			scope[i] = gitlab.BuildStateValue(s)
		}
		opt.Scope = &scope
	}
	jobs, err := gitlab.ScanAndCollect(func(page gitlab.PaginationOptionFunc) ([]*gitlab.Job, *gitlab.Response, error) {
		return g.client.Jobs.ListPipelineJobs(project, id, opt, page, gitlab.WithContext(ctx))
	})
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("listing jobs of pipeline %d of %s", id, project), err, false)
	}
	var out []Job
	for _, j := range jobs {
		if j.AllowFailure && j.Status == "failed" {
			continue // does not fail the pipeline
		}
		out = append(out, Job{Name: j.Name, Stage: j.Stage, Status: j.Status, URL: j.WebURL, Reason: j.FailureReason})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func pipelineRun(p *gitlab.Pipeline) *Run {
	r := &Run{ID: p.ID, URL: p.WebURL, Ref: p.Ref, SHA: p.SHA, Status: p.Status}
	if pipelineEnded(p.Status) {
		r.Conclusion = p.Status
	}
	return r
}

// pipelineEnded reports whether a pipeline status is final for a waiter. "manual" is a pipeline
// blocked on a manual job: nothing more happens without a person.
// https://docs.gitlab.com/api/pipelines/#list-project-pipelines (status values)
func pipelineEnded(status string) bool {
	switch status {
	case "success", "failed", "canceled", "canceling", "skipped", "manual":
		return true
	}
	return false
}

// apiError turns a client-go error into a *Error that says what failed and what it means.
// client-go's errors carry the request URL without its query; trigger tokens travel in the body,
// so neither shows a secret.
func (g *GitLab) apiError(doing string, err error, trigger bool) error {
	var resp *gitlab.ErrorResponse
	switch {
	case errors.Is(err, gitlab.ErrNotFound) && trigger:
		return &Error{StatusCode: http.StatusNotFound, Trigger: true, err: errdefs.WithHint(
			fmt.Errorf("%s: GitLab answered 404 Not Found: the trigger token is not valid for this project, or the project does not exist", doing),
			"check the trigger token and the project (ID or full path, e.g. group/app)")}
	case errors.Is(err, gitlab.ErrNotFound):
		return apiErr(http.StatusNotFound, errdefs.WithHint(errdefs.NotFound(fmt.Errorf("%s: GitLab answered 404 Not Found", doing)), g.notFoundHint()))
	case errors.As(err, &resp) && resp.Response != nil:
		return apiErr(resp.Response.StatusCode, g.statusError(doing, resp))
	}
	return unanswered("GitLab", g.base, doing, err)
}

func (g *GitLab) notFoundHint() string {
	if !g.hasAuth {
		return "the project is not public: an API token (scope read_api) is needed to see it"
	}
	return "check the project (ID or full path, e.g. group/app) and that the token can see it"
}

func (g *GitLab) statusError(doing string, resp *gitlab.ErrorResponse) error {
	err := fmt.Errorf("%s: GitLab answered %s", doing, resp.Response.Status)
	if msg := gitlabMessage(resp.Body); msg != "" && !strings.HasSuffix(resp.Response.Status, msg) {
		err = fmt.Errorf("%s: GitLab answered %s: %s", doing, resp.Response.Status, msg)
	}
	switch code := resp.Response.StatusCode; {
	case code == http.StatusUnauthorized && g.hasAuth:
		return errdefs.WithHint(err, "the API token is invalid, expired or revoked")
	case code == http.StatusUnauthorized:
		return errdefs.WithHint(err, "an API token is needed")
	case code == http.StatusForbidden:
		return errdefs.WithHint(err, "the token lacks permission: it needs the api scope and at least the Developer role on the project")
	case code == http.StatusBadRequest:
		return errdefs.WithHint(errdefs.Invalid(err), "check the ref (a branch or tag of the project) and the variables")
	case code == http.StatusTooManyRequests || code >= 500:
		return errdefs.Unavailable(err)
	}
	return err
}

// gitlabMessage returns the "message" (or "error") of a GitLab error body: a string as is, a
// structure (validation errors) as compact JSON.
func gitlabMessage(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return strings.TrimSpace(string(body))
	}
	raw, ok := m["message"]
	if !ok {
		raw = m["error"]
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
