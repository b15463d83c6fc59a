package forge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v57/github"

	"github.com/tagrelay/tagrelay/internal/errdefs"
)

// DispatchWorkflow starts the workflow (its file name, e.g. deploy.yml, or its ID) on ref with
// inputs (workflow_dispatch) and returns the run it created. The dispatch API returns no run, so
// the run is found as mature tools do: the newest workflow_dispatch run of that workflow on that
// ref that did not exist before the dispatch and was created at or after the dispatch, by the
// server's clock (its Date header). It waits for the run to appear until ctx ends.
// https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event
func (g *GitHub) DispatchWorkflow(ctx context.Context, repo, workflow, ref string, inputs map[string]string, opts ...WaitOption) (*Run, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	branch := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
	before, err := g.dispatchRuns(ctx, owner, name, workflow, branch)
	if err != nil {
		return nil, err
	}
	event := github.CreateWorkflowDispatchEventRequest{Ref: branch}
	if len(inputs) > 0 {
		event.Inputs = map[string]any{}
		for k, v := range inputs {
			event.Inputs[k] = v
		}
	}
	start := time.Now()
	resp, err := g.client.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, name, workflow, event)
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("dispatching %s on %s in %s", workflow, branch, repo), err)
	}
	if d, err := serverDate(resp); err == nil {
		start = d
	}
	since := start.Add(-2 * time.Second) // the Date header has a one-second resolution
	o := makeWaitOptions(opts)
	for {
		runs, err := g.dispatchRuns(ctx, owner, name, workflow, branch)
		if err != nil {
			return nil, err
		}
		var found *github.WorkflowRun
		for _, r := range runs {
			if before[r.GetID()] != nil || r.GetCreatedAt().Time.Before(since) {
				continue
			}
			if found == nil || r.GetCreatedAt().Time.Before(found.GetCreatedAt().Time) {
				found = r // the first run created after the dispatch is ours
			}
		}
		if found != nil {
			return workflowRun(found), nil
		}
		select {
		case <-ctx.Done():
			return nil, errdefs.WithHint(fmt.Errorf("dispatched %s on %s in %s, but its run did not appear: %w", workflow, branch, repo, ctx.Err()),
				"look at the repository's Actions tab")
		case <-time.After(o.interval):
		}
	}
}

// dispatchRuns lists the recent workflow_dispatch runs of a workflow on a branch, by ID.
func (g *GitHub) dispatchRuns(ctx context.Context, owner, name, workflow, branch string) (map[int64]*github.WorkflowRun, error) {
	list, _, err := g.client.Actions.ListWorkflowRunsByFileName(ctx, owner, name, workflow, &github.ListWorkflowRunsOptions{
		Event: "workflow_dispatch", Branch: branch, ListOptions: github.ListOptions{PerPage: 30},
	})
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("listing runs of %s in %s/%s", workflow, owner, name), err)
	}
	out := map[int64]*github.WorkflowRun{}
	for _, r := range list.WorkflowRuns {
		if r.GetEvent() == "workflow_dispatch" && r.GetHeadBranch() == branch {
			out[r.GetID()] = r
		}
	}
	return out, nil
}

// Run returns the current state of a workflow run.
func (g *GitHub) Run(ctx context.Context, repo string, id int64) (*Run, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	r, _, err := g.client.Actions.GetWorkflowRunByID(ctx, owner, name, id)
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("reading run %d of %s", id, repo), err)
	}
	return workflowRun(r), nil
}

// WaitRun polls a workflow run until it completes and returns it. A run that does not conclude
// with success returns a *RunFailure listing its failed, cancelled and timed-out jobs.
func (g *GitHub) WaitRun(ctx context.Context, repo string, id int64, opts ...WaitOption) (*Run, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	r, err := poll(ctx, "workflow run", makeWaitOptions(opts), g.log, func() (Run, error) {
		r, err := g.Run(ctx, repo, id)
		if err != nil {
			return Run{}, err
		}
		return *r, nil
	}, func(r Run) bool { return r.Status == "completed" })
	if err != nil {
		return &r, err
	}
	if r.Conclusion == "success" {
		return &r, nil
	}
	jobs, _, err := g.client.Actions.ListWorkflowJobs(ctx, owner, name, id, &github.ListWorkflowJobsOptions{Filter: "latest", ListOptions: github.ListOptions{PerPage: 100}})
	if err != nil {
		return &r, g.apiError(fmt.Sprintf("listing jobs of run %d of %s", id, repo), err)
	}
	f := &RunFailure{Kind: "workflow run", Run: r}
	for _, j := range jobs.Jobs {
		switch j.GetConclusion() {
		case "failure", "cancelled", "timed_out", "action_required":
			f.Jobs = append(f.Jobs, Job{Name: j.GetName(), Status: j.GetConclusion(), URL: j.GetHTMLURL()})
		}
	}
	return &r, f
}

func workflowRun(r *github.WorkflowRun) *Run {
	return &Run{ID: r.GetID(), URL: r.GetHTMLURL(), Ref: r.GetHeadBranch(), SHA: r.GetHeadSHA(),
		Status: r.GetStatus(), Conclusion: r.GetConclusion()}
}

func serverDate(resp *github.Response) (time.Time, error) {
	if resp == nil || resp.Response == nil {
		return time.Time{}, fmt.Errorf("no response")
	}
	return time.Parse(time.RFC1123, resp.Header.Get("Date"))
}
