package forge

import (
	"context"
	"fmt"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// OpenMergeRequest opens a merge request from cr.SourceBranch into cr.TargetBranch, or updates the
// title, description and labels of the one already open between them, and returns its web URL.
// The branch must have been pushed. Needs an API token with the api scope.
// https://docs.gitlab.com/api/merge_requests/
func (g *GitLab) OpenMergeRequest(ctx context.Context, project string, cr ChangeRequest) (*Change, error) {
	doing := fmt.Sprintf("opening a merge request %s → %s in %s", cr.SourceBranch, cr.TargetBranch, project)
	open, _, err := g.client.MergeRequests.ListProjectMergeRequests(project, &gitlab.ListProjectMergeRequestsOptions{
		State: gitlab.Ptr("opened"), SourceBranch: &cr.SourceBranch, TargetBranch: &cr.TargetBranch,
	}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(doing, err, false)
	}
	var labels *gitlab.LabelOptions
	if len(cr.Labels) > 0 {
		l := gitlab.LabelOptions(cr.Labels)
		labels = &l
	}
	if len(open) > 0 {
		mr, _, err := g.client.MergeRequests.UpdateMergeRequest(project, open[0].IID, &gitlab.UpdateMergeRequestOptions{
			Title: &cr.Title, Description: &cr.Description, AddLabels: labels,
		}, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.apiError(doing, err, false)
		}
		return &Change{Number: mr.IID, URL: mr.WebURL}, nil
	}
	mr, _, err := g.client.MergeRequests.CreateMergeRequest(project, &gitlab.CreateMergeRequestOptions{
		Title: &cr.Title, Description: &cr.Description, SourceBranch: &cr.SourceBranch, TargetBranch: &cr.TargetBranch,
		Labels: labels, RemoveSourceBranch: gitlab.Ptr(cr.RemoveSourceBranch),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(doing, err, false)
	}
	return &Change{Number: mr.IID, URL: mr.WebURL, Created: true}, nil
}
