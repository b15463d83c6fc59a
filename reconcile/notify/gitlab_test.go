package notify_test

import (
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/fakegitlab"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// TestGitLabPendingThenSuccess: the app commit gets deploy/web pending when the sync applies,
// then success, on one line linking the console's app page; no note is written.
func TestGitLabPendingThenSuccess(t *testing.T) {
	t.Parallel()
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: gitlabToken, TLS: true})
	mr := gl.AddMergeRequest(fakegitlab.MergeRequest{Source: "feature", Target: "main", Title: "Feature", Commits: []string{appSHA}})
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{GitLab: &notify.GitLab{URL: gl.URL, Project: "team/web", TokenFile: secretFile(t, gitlabToken), CAFile: gl.CAFile}}

	applied := result(api.StatusApplied, "")
	h.n.Started(cfg, applied)
	h.flush(t)
	sts := gl.Statuses(appSHA)
	if len(sts) != 1 || sts[0]["status"] != "pending" || sts[0]["name"] != "deploy/web" || sts[0]["target_url"] != consoleURL+"/apps/web" {
		t.Fatalf("statuses after the start = %v, want deploy/web pending linking the console", sts)
	}
	if d := sts[0]["description"].(string); !strings.Contains(d, "deploying ffffffffffff to web") {
		t.Errorf("pending description = %q", d)
	}
	h.n.Finished(cfg, result(api.StatusSucceeded, ""), nil)
	ds := h.flush(t)
	sts = gl.Statuses(appSHA)
	if len(sts) != 1 || sts[0]["status"] != "success" || sts[0]["target_url"] != consoleURL+"/apps/web" {
		t.Errorf("statuses after success = %v, want the same line, success", sts)
	}
	if f := failedOf(ds); len(f) != 0 || len(ds) != 2 {
		t.Errorf("deliveries = %v, failures %v", ds, f)
	}
	if notes := gl.Notes(mr); len(notes) != 0 {
		t.Errorf("notes = %v, want none for a success", notes)
	}
	// The requests, as GitLab's API documents them: the token as PRIVATE-TOKEN, never in a URL.
	for _, r := range gl.Requests() {
		if r.Header.Get("PRIVATE-TOKEN") != gitlabToken || strings.Contains(r.Path+r.Query.Encode(), gitlabToken) {
			t.Errorf("request %s %s: token header %q", r.Method, r.Path, r.Header.Get("PRIVATE-TOKEN"))
		}
	}
	if h.count("gitlab", "sent") != 2 {
		t.Errorf("sent = %v, want 2", h.count("gitlab", "sent"))
	}
	h.assertNoSecret(t, gitlabToken)
}

// TestGitLabFailureNote: a failed sync marks the commit failed and writes a note on the merge
// request that brought it, with the failing object, its reason, the last events and the log tail;
// a retry that fails again updates that note (one note, two status lines); the success that
// follows marks the note resolved.
func TestGitLabFailureNote(t *testing.T) {
	t.Parallel()
	gl := fakegitlab.New(t, fakegitlab.Config{Project: "team/web", APIToken: gitlabToken})
	mr := gl.AddMergeRequest(fakegitlab.MergeRequest{Source: "feature", Target: "main", Title: "Feature", Commits: []string{"0" + appSHA[1:], appSHA}})
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{GitLab: &notify.GitLab{URL: gl.URL, Project: "team/web", TokenFile: secretFile(t, gitlabToken)}, LogLines: 5}
	msg := "rollout failed: Deployment/team-web/web: ProgressDeadlineExceeded"
	for _, attempt := range []string{"attempt-1", "attempt-2"} {
		h.n.Started(cfg, result(api.StatusApplied, ""))
		h.n.Finished(cfg, result(api.StatusFailed, msg), crashLoop(attempt))
		h.flush(t)
	}
	sts := gl.Statuses(appSHA)
	if len(sts) != 2 || sts[0]["status"] != "failed" || sts[1]["status"] != "failed" || !strings.Contains(sts[1]["description"].(string), "ProgressDeadlineExceeded") {
		t.Errorf("statuses = %v, want one failed line per attempt", sts)
	}
	notes := gl.Notes(mr)
	if len(notes) != 1 {
		t.Fatalf("%d notes, want one, updated", len(notes))
	}
	body := notes[0]["body"].(string)
	for _, want := range []string{"<!-- tagrelay:deploy/web -->", "Deploy of `web` failed", "Deployment/team-web/web", "ProgressDeadlineExceeded",
		"CrashLoopBackOff", "BackOff: Back-off restarting failed container", "Log of `web-6dd-abcde/web`, last 5 lines:",
		"panic: cannot connect to db (attempt-2)", consoleURL + "/apps/web", "1a2b3c4d5e6f"} {
		if !strings.Contains(body, want) {
			t.Errorf("note lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "attempt-1") || strings.Contains(body, "log line x\n") && strings.Count(body, "log line") > 5 {
		t.Errorf("note keeps the first attempt or more than 5 log lines:\n%s", body)
	}
	// The hostile log line stays inside its code block: the fence is longer than its backticks.
	if !strings.Contains(body, "````\n") {
		t.Errorf("the log's backticks were not out-fenced:\n%s", body)
	}

	h.n.Finished(cfg, result(api.StatusSucceeded, ""), nil)
	h.flush(t)
	notes = gl.Notes(mr)
	if len(notes) != 1 || !strings.Contains(notes[0]["body"].(string), "`web` deployed") {
		t.Errorf("notes after the success = %v, want the one note resolved", notes)
	}
	h.assertNoSecret(t, gitlabToken)
}
