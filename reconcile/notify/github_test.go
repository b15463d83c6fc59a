package notify_test

import (
	"strings"
	"testing"

	"github.com/tagrelay/tagrelay/internal/fakegithub"
	"github.com/tagrelay/tagrelay/reconcile/api"
	"github.com/tagrelay/tagrelay/reconcile/notify"
)

// TestGitHubDeployments: each attempt is a deployment of the app commit to the environment web,
// in_progress then success or failure, linking the console; failures keep one comment on the
// pull request that brought the commit.
func TestGitHubDeployments(t *testing.T) {
	t.Parallel()
	gh := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/web", Token: githubToken})
	pr := gh.AddPull(fakegithub.Pull{Head: "feature", Base: "main", Title: "Feature", Merged: true, Commits: []string{appSHA}})
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{GitHub: &notify.GitHub{URL: gh.URL, Repo: "octo-org/web", TokenFile: secretFile(t, githubToken)}}

	for _, attempt := range []string{"attempt-1", "attempt-2"} {
		h.n.Started(cfg, result(api.StatusApplied, ""))
		h.n.Finished(cfg, result(api.StatusFailed, "rollout failed: "+attempt), crashLoop(attempt))
		h.flush(t)
	}
	h.n.Started(cfg, result(api.StatusApplied, ""))
	h.n.Finished(cfg, result(api.StatusSucceeded, ""), nil)
	if f := failedOf(h.flush(t)); len(f) != 0 {
		t.Fatalf("failed deliveries: %v", f)
	}
	deps := gh.Deployments()
	var got []string
	for _, d := range deps {
		if d["sha"] != appSHA || d["environment"] != "web" {
			t.Errorf("deployment %v: want the app commit to environment web", d)
		}
		var states []string
		for _, st := range d["statuses"].([]map[string]any) {
			states = append(states, st["state"].(string))
			if st["log_url"] != consoleURL+"/apps/web" {
				t.Errorf("deployment status %v does not link the console", st)
			}
		}
		got = append(got, strings.Join(states, ">"))
	}
	if want := "in_progress>failure in_progress>failure in_progress>success"; strings.Join(got, " ") != want {
		t.Errorf("deployments = %q, want %q", strings.Join(got, " "), want)
	}
	if deps[0]["inactive"] != true || deps[2]["inactive"] == true {
		t.Errorf("the success did not make the older deployments inactive: %v", deps)
	}
	comments := gh.Comments(pr)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want one, updated", len(comments))
	}
	if body := comments[0]["body"].(string); !strings.Contains(body, "`web` deployed") {
		t.Errorf("comment after the success = %s", body)
	}
	for _, r := range gh.Requests() {
		if r.Header.Get("Authorization") != "Bearer "+githubToken {
			t.Errorf("request %s %s: Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}
	h.assertNoSecret(t, githubToken)
}

// TestGitHubFinalWithoutStart: a final status whose start was missed (the reconciler restarted)
// creates the deployment then.
func TestGitHubFinalWithoutStart(t *testing.T) {
	t.Parallel()
	gh := fakegithub.New(t, fakegithub.Config{Repo: "octo-org/web", Token: githubToken, Commits: []string{appSHA}})
	h := newHarness(t, notify.Options{})
	cfg := &notify.Config{GitHub: &notify.GitHub{URL: gh.URL, Repo: "octo-org/web", TokenFile: secretFile(t, githubToken)}}
	h.n.Finished(cfg, result(api.StatusSucceeded, ""), nil)
	if f := failedOf(h.flush(t)); len(f) != 0 {
		t.Fatalf("failed deliveries: %v", f)
	}
	deps := gh.Deployments()
	if len(deps) != 1 || len(deps[0]["statuses"].([]map[string]any)) != 1 {
		t.Errorf("deployments = %v, want one with its success", deps)
	}
}
