package forge

import (
	"context"
	"fmt"

	"github.com/google/go-github/v57/github"
)

// OpenPullRequest opens a pull request from cr.SourceBranch into cr.TargetBranch, or updates the
// title and body of the one already open between them (labels are added either way), and
// returns its web URL. The branch must have been pushed to repo itself.
// https://docs.github.com/en/rest/pulls/pulls
func (g *GitHub) OpenPullRequest(ctx context.Context, repo string, cr ChangeRequest) (*Change, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	doing := fmt.Sprintf("opening a pull request %s → %s in %s", cr.SourceBranch, cr.TargetBranch, repo)
	open, _, err := g.client.PullRequests.List(ctx, owner, name, &github.PullRequestListOptions{
		State: "open", Head: owner + ":" + cr.SourceBranch, Base: cr.TargetBranch,
	})
	if err != nil {
		return nil, g.apiError(doing, err)
	}
	var pr *github.PullRequest
	created := len(open) == 0
	if created {
		pr, _, err = g.client.PullRequests.Create(ctx, owner, name, &github.NewPullRequest{
			Title: &cr.Title, Body: &cr.Description, Head: &cr.SourceBranch, Base: &cr.TargetBranch,
		})
	} else {
		pr, _, err = g.client.PullRequests.Edit(ctx, owner, name, open[0].GetNumber(), &github.PullRequest{
			Title: &cr.Title, Body: &cr.Description,
		})
	}
	if err != nil {
		return nil, g.apiError(doing, err)
	}
	if len(cr.Labels) > 0 {
		if _, _, err := g.client.Issues.AddLabelsToIssue(ctx, owner, name, pr.GetNumber(), cr.Labels); err != nil {
			return nil, g.apiError(doing, err)
		}
	}
	return &Change{Number: int64(pr.GetNumber()), URL: pr.GetHTMLURL(), Created: created}, nil
}
