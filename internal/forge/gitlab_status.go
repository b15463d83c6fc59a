package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// SetCommitStatus sets the status st.Context of commit sha (POST /projects/:id/statuses/:sha).
// GitLab keeps one status per name while it is pending or running and adds a new one after it
// ended, so a retried deploy shows its own line. Posting the state a status already has is
// refused by GitLab with 400 "Cannot transition status" (gitlab-org/gitlab-foss#25807): that is
// success here, the status already says it. Needs the api scope and the Developer role.
// https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit
func (g *GitLab) SetCommitStatus(ctx context.Context, project, sha string, st Status) error {
	state := map[State]gitlab.BuildStateValue{StatePending: gitlab.Pending, StateSuccess: gitlab.Success, StateFailure: gitlab.Failed}[st.State]
	if state == "" {
		return fmt.Errorf("unknown status state %q", st.State)
	}
	opt := &gitlab.SetCommitStatusOptions{State: state, Name: &st.Context, Description: gitlab.Ptr(st.description())}
	if st.TargetURL != "" {
		opt.TargetURL = &st.TargetURL
	}
	_, _, err := g.client.Commits.SetCommitStatus(project, sha, opt, gitlab.WithContext(ctx))
	var resp *gitlab.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusBadRequest &&
		strings.Contains(gitlabMessage(resp.Body), "Cannot transition status") {
		// gitlab-foss#25807: the status is already in this state. The only string match on
		// GitLab's answers: the API has no error code for it.
		return nil
	}
	if err != nil {
		return g.apiError(fmt.Sprintf("setting status %s of commit %s in %s", st.Context, short(sha), project), err, false)
	}
	return nil
}

// MergeRequestsOfCommit lists the merge requests that contain commit sha
// (GET /projects/:id/repository/commits/:sha/merge_requests).
// https://docs.gitlab.com/api/commits/#list-merge-requests-associated-with-a-commit
func (g *GitLab) MergeRequestsOfCommit(ctx context.Context, project, sha string) ([]ChangeRef, error) {
	mrs, _, err := g.client.Commits.ListMergeRequestsByCommit(project, sha, gitlab.WithContext(ctx))
	if err != nil {
		return nil, g.apiError(fmt.Sprintf("listing the merge requests of commit %s in %s", short(sha), project), err, false)
	}
	out := make([]ChangeRef, 0, len(mrs))
	for _, mr := range mrs {
		out = append(out, ChangeRef{Number: mr.IID, URL: mr.WebURL, State: mr.State, Merged: mr.State == "merged"})
	}
	return out, nil
}

// ChangeOfCommit returns the merge request commit sha came in with: the merged one, else an
// open one. ok is false when the commit belongs to none (pushed straight to the branch).
func (g *GitLab) ChangeOfCommit(ctx context.Context, project, sha string) (ChangeRef, bool, error) {
	changes, err := g.MergeRequestsOfCommit(ctx, project, sha)
	if err != nil {
		return ChangeRef{}, false, err
	}
	c, ok := pickChange(changes)
	return c, ok, nil
}

// UpsertMergeRequestNote keeps note on merge request iid: it edits the note that holds
// note.Marker (the newest such note among the last maxNotePages pages), or posts a new one.
// created reports which. A note with the marker that the token may not edit (another user's)
// is passed over. With note.UpdateOnly, nothing is posted when no note exists.
// https://docs.gitlab.com/api/notes/#merge-requests
func (g *GitLab) UpsertMergeRequestNote(ctx context.Context, project string, iid int64, note Note) (created bool, err error) {
	doing := fmt.Sprintf("writing a note on merge request !%d of %s", iid, project)
	opt := &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1},
		OrderBy: gitlab.Ptr("updated_at"), Sort: gitlab.Ptr("desc")}
	for page := 0; page < maxNotePages; page++ {
		notes, resp, err := g.client.Notes.ListMergeRequestNotes(project, iid, opt, gitlab.WithContext(ctx))
		if err != nil {
			return false, g.apiError(doing, err, false)
		}
		for _, n := range notes {
			if n.System || !strings.HasPrefix(n.Body, note.Marker) {
				continue
			}
			_, _, err := g.client.Notes.UpdateMergeRequestNote(project, iid, n.ID, &gitlab.UpdateMergeRequestNoteOptions{Body: gitlab.Ptr(note.text())}, gitlab.WithContext(ctx))
			if errors.Is(err, gitlab.ErrNotFound) || isStatus(err, http.StatusForbidden) {
				continue // not ours to edit
			}
			if err != nil {
				return false, g.apiError(doing, err, false)
			}
			return false, nil
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if note.UpdateOnly {
		return false, nil
	}
	if _, _, err := g.client.Notes.CreateMergeRequestNote(project, iid, &gitlab.CreateMergeRequestNoteOptions{Body: gitlab.Ptr(note.text())}, gitlab.WithContext(ctx)); err != nil {
		return false, g.apiError(doing, err, false)
	}
	return true, nil
}

func isStatus(err error, code int) bool {
	var resp *gitlab.ErrorResponse
	return errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == code
}

// short is the first 12 characters of a commit SHA, for messages.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
