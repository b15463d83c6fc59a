package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagrelay/tagrelay/internal/fakegitlab"
)

// forgeProject is the app's project on the (fake) GitLab the deploy results are reported to.
const forgeProject = "team/app"

// startForge runs a fake GitLab speaking the documented commit status and notes APIs (the only
// part of GitLab the notifications use; a real GitLab cannot run here) and writes the token the
// reconciler reports with. It returns the notify: section of the app in apps.yaml.
func (d *demo) startForge(dir string) (string, error) {
	gl, err := fakegitlab.Start(fakegitlab.Config{Project: forgeProject, APIToken: token})
	if err != nil {
		return "", err
	}
	d.forge = gl
	d.atEnd(gl.Close)
	tokenFile := filepath.Join(dir, "gitlab-api-token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return "", err
	}
	d.say("GitLab (fake, commit statuses and merge request notes): %s, project %s", gl.URL, forgeProject)
	return fmt.Sprintf("    notify:\n      gitlab: {url: %s, project: %s, tokenFile: %s}\n", gl.URL, forgeProject, tokenFile), nil
}

// freeAddr is a free 127.0.0.1 port for the reconciler, so its --external-url (the link of the
// commit statuses) can be given before it starts.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// mergeRequest records on the fake GitLab the merge request that brought the app commit, for the
// failure note of a deploy (none is written on success).
func (d *demo) mergeRequest(commit string) {
	iid := d.forge.AddMergeRequest(fakegitlab.MergeRequest{Source: "feat/french", Target: "main", Title: "feat: greet in French", Commits: []string{commit}})
	d.say("merge request !%d on the app's GitLab project brought %s", iid, commit[:8])
}

// showForge waits (at most a minute: notifications run in the background) until the app commit's
// deploy/app status is final and prints what the forge holds.
func (d *demo) showForge(commit, want string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		sts := d.forge.Statuses(commit)
		if len(sts) > 0 && sts[len(sts)-1]["status"] == want {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			d.forge.PrintStatuses(&b)
			return fmt.Errorf("the commit status of %s is not %s after a minute:\n%s", commit[:8], want, b.String())
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	var b strings.Builder
	d.forge.PrintStatuses(&b)
	d.say("the app commit's status, as the fake GitLab recorded it (GET /projects/%s/repository/commits/%s/statuses):\n%s",
		strings.ReplaceAll(forgeProject, "/", "%2F"), commit[:8], indent(b.String()))
	return nil
}
