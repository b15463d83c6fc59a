package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/internal/forge"
)

const appSHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// TestGitLabCommitStatus: pending, pending again (GitLab's 400 "Cannot transition status" is the
// status already being there), then success on the same line; a long description is cut; an
// unknown commit is not found.
func TestGitLabCommitStatus(t *testing.T) {
	t.Parallel()
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: apiToken, Commits: []string{appSHA}})
	c := newGitLab(t, gl.URL, apiToken)
	ctx := context.Background()
	st := forge.Status{Context: "deploy/web", State: forge.StatePending, Description: strings.Repeat("é", 100), TargetURL: "https://console.example/apps/web"}
	for i := 0; i < 2; i++ {
		if err := c.SetCommitStatus(ctx, "team/web", appSHA, st); err != nil {
			t.Fatalf("SetCommitStatus(pending) #%d = %v", i+1, err)
		}
	}
	st.State, st.Description = forge.StateSuccess, "deployed"
	if err := c.SetCommitStatus(ctx, "team/web", appSHA, st); err != nil {
		t.Fatalf("SetCommitStatus(success) = %v", err)
	}
	got := gl.Statuses(appSHA)
	if len(got) != 1 || got[0]["status"] != "success" || got[0]["name"] != "deploy/web" || got[0]["target_url"] != st.TargetURL {
		t.Fatalf("statuses = %v, want one deploy/web line, success, linking the console", got)
	}
	var posted map[string]any
	reqs := gl.Requests()
	if err := json.Unmarshal([]byte(reqs[0].Body), &posted); err != nil || reqs[0].Path != "/projects/team%2Fweb/statuses/"+appSHA ||
		reqs[0].Header.Get("PRIVATE-TOKEN") != apiToken || len(posted["description"].(string)) > 140 || posted["state"] != "pending" {
		t.Errorf("first request = %s %s %v", reqs[0].Method, reqs[0].Path, posted)
	}
	err := c.SetCommitStatus(ctx, "team/web", strings.Repeat("0", 40), st)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("SetCommitStatus(unknown commit) = %v, want not found", err)
	}
}

// TestGitLabNoteUpserted: the note is found again by its marker across pages of other notes, and
// edited instead of posted twice.
func TestGitLabNoteUpserted(t *testing.T) {
	t.Parallel()
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: apiToken})
	iid := gl.AddMergeRequest(fakegitlab.MergeRequest{Source: "feature", Target: "main", Title: "Feature", Commits: []string{appSHA}})
	c := newGitLab(t, gl.URL, apiToken)
	ctx := context.Background()
	change, ok, err := c.ChangeOfCommit(ctx, "team/web", appSHA)
	if err != nil || !ok || change.Number != iid || !change.Merged {
		t.Fatalf("ChangeOfCommit() = %+v, %v, %v", change, ok, err)
	}
	note := forge.Note{Marker: "<!-- tagrelay:deploy/web -->", Body: "attempt 1"}
	if created, err := c.UpsertMergeRequestNote(ctx, "team/web", iid, note); err != nil || !created {
		t.Fatalf("UpsertMergeRequestNote() = %v, %v, want created", created, err)
	}
	for i := 0; i < 150; i++ { // reviewers talk; the note sinks below a page
		if _, err := c.UpsertMergeRequestNote(ctx, "team/web", iid, forge.Note{Marker: fmt.Sprintf("<!-- other %d -->", i), Body: "lgtm"}); err != nil {
			t.Fatal(err)
		}
	}
	note.Body = "attempt 2"
	if created, err := c.UpsertMergeRequestNote(ctx, "team/web", iid, note); err != nil || created {
		t.Fatalf("UpsertMergeRequestNote() again = %v, %v, want updated", created, err)
	}
	var ours []string
	for _, n := range gl.Notes(iid) {
		if b := n["body"].(string); strings.HasPrefix(b, note.Marker) {
			ours = append(ours, b)
		}
	}
	if len(ours) != 1 || !strings.HasSuffix(ours[0], "attempt 2") {
		t.Errorf("notes with the marker = %q, want one, updated", ours)
	}
}

// TestGitHubDeployment: a deployment of the app commit to the app's environment, in progress
// then success, linking the console; the commit's failing checks do not block it.
func TestGitHubDeployment(t *testing.T) {
	t.Parallel()
	gh := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/web", Token: githubToken, Commits: []string{appSHA}})
	c := newGitHub(t, gh.URL, githubToken)
	ctx := context.Background()
	if err := c.SetCommitStatus(ctx, "octo-org/web", appSHA, forge.Status{Context: "ci/lint", State: forge.StateFailure}); err != nil {
		t.Fatal(err)
	}
	if id, err := c.LatestDeployment(ctx, "octo-org/web", appSHA, "web"); err != nil || id != 0 {
		t.Fatalf("LatestDeployment() before = %d, %v", id, err)
	}
	id, err := c.CreateDeployment(ctx, "octo-org/web", forge.Deployment{SHA: appSHA, Environment: "web", Description: "deploy web",
		Payload: map[string]any{"images": []string{"harbor.example/team/web:1a2b3c4d"}}})
	if err != nil {
		t.Fatalf("CreateDeployment() = %v", err)
	}
	for _, state := range []forge.State{forge.StatePending, forge.StateSuccess} {
		if err := c.SetDeploymentStatus(ctx, "octo-org/web", id, forge.Status{State: state, Description: string(state), TargetURL: "https://console.example/apps/web", Environment: "web"}); err != nil {
			t.Fatalf("SetDeploymentStatus(%s) = %v", state, err)
		}
	}
	if latest, err := c.LatestDeployment(ctx, "octo-org/web", appSHA, "web"); err != nil || latest != id {
		t.Errorf("LatestDeployment() = %d, %v, want %d", latest, err, id)
	}
	deps := gh.Deployments()
	sts, _ := deps[0]["statuses"].([]map[string]any)
	if len(deps) != 1 || deps[0]["environment"] != "web" || deps[0]["sha"] != appSHA || len(sts) != 2 ||
		sts[0]["state"] != "in_progress" || sts[1]["state"] != "success" || sts[1]["log_url"] != "https://console.example/apps/web" {
		t.Errorf("deployments = %v", deps)
	}
	for _, r := range gh.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/deployments") && (!strings.Contains(r.Body, `"required_contexts":[]`) || !strings.Contains(r.Body, `"auto_merge":false`)) {
			t.Errorf("create deployment body = %s, want required_contexts [] and auto_merge false", r.Body)
		}
	}
}

// TestGitHubCommentUpserted: the pull request of a commit is found, and its comment edited across
// pages of others instead of posted twice.
func TestGitHubCommentUpserted(t *testing.T) {
	t.Parallel()
	gh := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/web", Token: githubToken})
	n := gh.AddPull(fakegithub.Pull{Head: "feature", Base: "main", Title: "Feature", Merged: true, Commits: []string{appSHA}})
	c := newGitHub(t, gh.URL, githubToken)
	ctx := context.Background()
	change, ok, err := c.ChangeOfCommit(ctx, "octo-org/web", appSHA)
	if err != nil || !ok || change.Number != int64(n) || !change.Merged {
		t.Fatalf("ChangeOfCommit() = %+v, %v, %v", change, ok, err)
	}
	for i := 0; i < 120; i++ { // a busy pull request: the note lands on the second page
		if _, err := c.UpsertIssueComment(ctx, "octo-org/web", change.Number, forge.Note{Marker: fmt.Sprintf("<!-- other %d -->", i), Body: "+1"}); err != nil {
			t.Fatal(err)
		}
	}
	note := forge.Note{Marker: "<!-- tagrelay:deploy/web -->", Body: "attempt 1"}
	if created, err := c.UpsertIssueComment(ctx, "octo-org/web", change.Number, note); err != nil || !created {
		t.Fatalf("UpsertIssueComment() = %v, %v", created, err)
	}
	note.Body = "attempt 2"
	if created, err := c.UpsertIssueComment(ctx, "octo-org/web", change.Number, note); err != nil || created {
		t.Fatalf("UpsertIssueComment() again = %v, %v, want updated", created, err)
	}
	comments := gh.Comments(n)
	if len(comments) != 121 || comments[120]["body"] != note.Marker+"\nattempt 2" {
		t.Errorf("%d comments, last %q; want 121 and the last updated", len(comments), comments[120]["body"])
	}
}
