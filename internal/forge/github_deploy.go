package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v57/github"
)

// Deployment is a GitHub deployment to create: one deploy of commit SHA to an environment.
type Deployment struct {
	SHA         string
	Environment string
	Description string
	// Payload travels with the deployment (the images, the infra commit); GitHub keeps it as is.
	Payload map[string]any
}

// CreateDeployment records a deployment of d.SHA to d.Environment and returns its ID
// (POST /repos/{owner}/{repo}/deployments). auto_merge is off and required_contexts is empty:
// the commit is already built and deployed; GitHub must neither merge the default branch into it
// nor refuse it for its pending checks.
// https://docs.github.com/en/rest/deployments/deployments#create-a-deployment
func (g *GitHub) CreateDeployment(ctx context.Context, repo string, d Deployment) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	req := &github.DeploymentRequest{Ref: &d.SHA, Task: github.String("deploy"), AutoMerge: github.Bool(false),
		RequiredContexts: &[]string{}, Environment: &d.Environment, Description: github.String(truncate(d.Description, maxDescription)),
		TransientEnvironment: github.Bool(false)}
	if d.Payload != nil {
		req.Payload = d.Payload
	}
	dep, _, err := g.client.Repositories.CreateDeployment(ctx, owner, name, req)
	if err != nil {
		return 0, g.apiError(fmt.Sprintf("creating a deployment of %s to %s in %s", short(d.SHA), d.Environment, repo), err)
	}
	return dep.GetID(), nil
}

// LatestDeployment returns the ID of the newest deployment of sha to environment, 0 when there is
// none (GET /repos/{owner}/{repo}/deployments?sha=…&environment=…, newest first).
// https://docs.github.com/en/rest/deployments/deployments#list-deployments
func (g *GitHub) LatestDeployment(ctx context.Context, repo, sha, environment string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	deps, _, err := g.client.Repositories.ListDeployments(ctx, owner, name, &github.DeploymentsListOptions{
		SHA: sha, Environment: environment, ListOptions: github.ListOptions{PerPage: 1}})
	if err != nil {
		return 0, g.apiError(fmt.Sprintf("listing the deployments of %s to %s in %s", short(sha), environment, repo), err)
	}
	if len(deps) == 0 {
		return 0, nil
	}
	return deps[0].GetID(), nil
}

// SetDeploymentStatus adds a status to deployment id: in_progress for StatePending, success or
// failure, linking to st.TargetURL (log_url). A success marks the environment's older deployments
// inactive (auto_inactive), as GitHub's UI expects.
// https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status
func (g *GitHub) SetDeploymentStatus(ctx context.Context, repo string, id int64, st Status) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	state := map[State]string{StatePending: "in_progress", StateSuccess: "success", StateFailure: "failure"}[st.State]
	if state == "" {
		return fmt.Errorf("unknown status state %q", st.State)
	}
	req := &github.DeploymentStatusRequest{State: &state, Description: github.String(st.description()), AutoInactive: github.Bool(true)}
	if st.TargetURL != "" {
		req.LogURL = &st.TargetURL
	}
	if st.Environment != "" {
		req.Environment = &st.Environment
	}
	if _, _, err := g.client.Repositories.CreateDeploymentStatus(ctx, owner, name, id, req); err != nil {
		return g.apiError(fmt.Sprintf("setting the status of deployment %d in %s", id, repo), err)
	}
	return nil
}

// SetCommitStatus sets the commit status st.Context of sha (POST /repos/{owner}/{repo}/statuses/{sha}):
// pending, success or failure. Gitea and Forgejo serve the same call.
// https://docs.github.com/en/rest/commits/statuses#create-a-commit-status
func (g *GitHub) SetCommitStatus(ctx context.Context, repo, sha string, st Status) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	state := map[State]string{StatePending: "pending", StateSuccess: "success", StateFailure: "failure"}[st.State]
	if state == "" {
		return fmt.Errorf("unknown status state %q", st.State)
	}
	s := &github.RepoStatus{State: &state, Context: &st.Context, Description: github.String(st.description())}
	if st.TargetURL != "" {
		s.TargetURL = &st.TargetURL
	}
	if _, _, err := g.client.Repositories.CreateStatus(ctx, owner, name, sha, s); err != nil {
		return g.apiError(fmt.Sprintf("setting status %s of commit %s in %s", st.Context, short(sha), repo), err)
	}
	return nil
}

// PullRequestsOfCommit lists the pull requests that contain commit sha
// (GET /repos/{owner}/{repo}/commits/{sha}/pulls).
// https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit
func (g *GitHub) PullRequestsOfCommit(ctx context.Context, repo, sha string) ([]ChangeRef, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	prs, _, err := g.client.PullRequests.ListPullRequestsWithCommit(ctx, owner, name, sha, &github.ListOptions{PerPage: 100})
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("listing the pull requests of commit %s in %s", short(sha), repo), err)
	}
	out := make([]ChangeRef, 0, len(prs))
	for _, pr := range prs {
		out = append(out, ChangeRef{Number: int64(pr.GetNumber()), URL: pr.GetHTMLURL(), State: pr.GetState(), Merged: pr.MergedAt != nil})
	}
	return out, nil
}

// ChangeOfCommit returns the pull request commit sha came in with: the merged one, else an open
// one. ok is false when the commit belongs to none.
func (g *GitHub) ChangeOfCommit(ctx context.Context, repo, sha string) (ChangeRef, bool, error) {
	changes, err := g.PullRequestsOfCommit(ctx, repo, sha)
	if err != nil {
		return ChangeRef{}, false, err
	}
	c, ok := pickChange(changes)
	return c, ok, nil
}

// UpsertIssueComment keeps note on issue or pull request number: it edits the comment that holds
// note.Marker (the newest among the first maxNotePages pages), or posts a new one. created reports
// which. A comment with the marker the token may not edit (another user's) is passed over. With
// note.UpdateOnly, nothing is posted when no comment exists.
// https://docs.github.com/en/rest/issues/comments
func (g *GitHub) UpsertIssueComment(ctx context.Context, repo string, number int64, note Note) (created bool, err error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return false, err
	}
	doing := fmt.Sprintf("writing a comment on pull request #%d of %s", number, repo)
	var found []int64
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < maxNotePages; page++ {
		comments, resp, err := g.client.Issues.ListComments(ctx, owner, name, int(number), opt)
		if err != nil {
			return false, g.apiError(doing, err)
		}
		for _, c := range comments {
			if strings.HasPrefix(c.GetBody(), note.Marker) {
				found = append(found, c.GetID())
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	body := note.text()
	for i := len(found) - 1; i >= 0; i-- { // comments come oldest first
		_, _, err := g.client.Issues.EditComment(ctx, owner, name, found[i], &github.IssueComment{Body: &body})
		var resp *github.ErrorResponse
		if errors.As(err, &resp) && resp.Response != nil && (resp.Response.StatusCode == http.StatusForbidden || resp.Response.StatusCode == http.StatusNotFound) {
			continue
		}
		if err != nil {
			return false, g.apiError(doing, err)
		}
		return false, nil
	}
	if note.UpdateOnly {
		return false, nil
	}
	if _, _, err := g.client.Issues.CreateComment(ctx, owner, name, int(number), &github.IssueComment{Body: &body}); err != nil {
		return false, g.apiError(doing, err)
	}
	return true, nil
}
