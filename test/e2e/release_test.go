package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/regtest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// fakeReconciler answers the two requests tagrelay release makes as tagrelay-reconciler does:
// POST .../sync applies the expected image once, then refuses it as already running (409);
// GET /api/v1/apps/app returns the last sync. Only its HTTP API is faked: the real one needs a
// cluster and is driven by test/pipeline and make demo.
type fakeReconciler struct {
	mu      sync.Mutex
	running string
	last    *api.SyncResult
}

func (f *fakeReconciler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer reconciler-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(api.Error{Error: "unauthorized"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == api.AppPath("app"):
		_ = json.NewEncoder(w).Encode(api.AppStatus{Name: "app", LastSync: f.last})
		return
	case r.Method != http.MethodPost || r.URL.Path != api.SyncPath("app"):
		http.NotFound(w, r)
		return
	}
	var req api.SyncRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	res := &api.SyncResult{App: "app", Revision: "0123456789abcdef", Started: time.Now(),
		Images: []api.ImageChange{{Object: "Deployment/team/app", Container: "app", Before: f.running, After: req.ExpectImage}}}
	if f.running == req.ExpectImage {
		res.Status, res.ExitCode, res.Message = api.StatusNoopRefused, 3, "expected image "+req.ExpectImage+" is already running in Deployment/team/app (container app)"
		w.WriteHeader(http.StatusConflict)
	} else {
		f.running = req.ExpectImage
		res.Status, res.Message = api.StatusSucceeded, "1 image changed"
	}
	f.last = res
	_ = json.NewEncoder(w).Encode(res)
}

// A release killed right after its bump, run again, finishes without a second commit or a
// moved tag; a third run finds everything done and exits 3.
func TestReleaseKilledAfterBumpAndRerun(t *testing.T) {
	t.Parallel()
	const token = "glpat-release-0123456789"
	git := gittest.New(t, gittest.WithBasicAuth("oauth2", token))
	reg := regtest.New(t)
	image := reg.Host + "/team/app"
	ci := regtest.Image(t, 1024, 2)
	if out, err := tagrelay(nil, "push", "--source", regtest.Layout(t, ci), "--dest", image+":1a2b3c4d", "--insecure").CombinedOutput(); err != nil {
		t.Fatalf("CI push: %v\n%s", err, out)
	}
	git.MustCreateRepo(t, "team/infra")
	git.MustCommit(t, "team/infra", "main", "initial", map[string]string{
		"envs/prod/kustomization.yaml": "resources: [deploy.yaml]\nimages:\n  - name: " + image + "\n    newTag: 0000000a\n",
	})
	git.MustCreateRepo(t, "int/infra")
	rec := &fakeReconciler{}
	recSrv := httptest.NewServer(rec)
	t.Cleanup(recSrv.Close)

	dir := t.TempDir()
	config := "image:\n  repository: " + image + "\ninfra:\n  repo: " + git.RepoURL("team/infra") + "\n  files: [envs/prod/kustomization.yaml]\n" +
		"mirrors:\n  - source: " + git.RepoURL("team/infra") + "\n    dest: " + git.RepoURL("int/infra") + "\n    refs: [main]\n    sourceTokenEnv: GITLAB_TOKEN\n    destTokenEnv: GITLAB_TOKEN\n" +
		"trigger:\n  reconciler:\n    url: " + recSrv.URL + "\n    app: app\n"
	if err := os.WriteFile(filepath.Join(dir, ".tagrelay.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"GITLAB_TOKEN=" + token, "TAGRELAY_RECONCILER_TOKEN=reconciler-token", "CI_COMMIT_SHORT_SHA=1a2b3c4d",
		"TAGRELAY_CACHE_DIR=" + filepath.Join(dir, "cache")}
	args := []string{"release", "--version", "v1.4.0", "--yes", "--insecure", "--config", filepath.Join(dir, ".tagrelay.yaml")}

	// Without --yes and without a terminal: refused, nothing written.
	cmd := tagrelay(env, args[:3]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); exitCode(err) != 2 || !strings.Contains(string(out), "pass --yes") {
		t.Fatalf("release without --yes: exit %d\n%s", exitCode(err), out)
	}

	// First run: killed as soon as the bump is done.
	cmd = tagrelay(env, args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.HasPrefix(sc.Text(), "done    bump:") {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	_ = cmd.Wait()
	if !strings.Contains(strings.Join(seen, "\n"), "done    bump:") {
		t.Fatalf("the first run never finished its bump:\n%s\n%s", stdout.String(), strings.Join(seen, "\n"))
	}
	if !strings.Contains(stdout.String(), "promote "+image+":1a2b3c4d") || !strings.Contains(stdout.String(), "0000000a -> v1.4.0") {
		t.Errorf("the plan does not say what is promoted and bumped:\n%s", stdout.String())
	}
	commits, _ := git.Log("team/infra", "main")
	tip, _ := git.RevParse("team/infra", "main")

	// Second run: push and bump recognised as done, the rest runs.
	cmd = tagrelay(env, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: exit %d\n%s", exitCode(err), out)
	}
	for _, want := range []string{"skipped push: already done", "skipped bump: already done", "done    trigger:", "released " + image + ":v1.4.0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("re-run output lacks %q:\n%s", want, out)
		}
	}
	if again, _ := git.Log("team/infra", "main"); len(again) != len(commits) || len(commits) != 2 {
		t.Errorf("infra commits: %d after the first run, %d after the second; want 2 and 2", len(commits), len(again))
	}
	if mirrored, _ := git.RevParse("int/infra", "main"); mirrored != tip {
		t.Errorf("int/infra main = %s, want the bump commit %s", mirrored, tip)
	}
	if content := git.MustReadFile(t, "team/infra", "main", "envs/prod/kustomization.yaml"); !strings.Contains(content, "newTag: v1.4.0") {
		t.Errorf("kustomization after the release:\n%s", content)
	}
	d1, err1 := tagrelay(nil, "push", "--check", image+":v1.4.0", "--insecure").Output()
	d2, err2 := tagrelay(nil, "push", "--check", image+":1a2b3c4d", "--insecure").Output()
	if err1 != nil || err2 != nil || strings.TrimSpace(string(d1)) != strings.TrimSpace(string(d2)) {
		t.Errorf("v1.4.0 = %s (%v), the commit's image = %s (%v): want the same digest", d1, err1, d2, err2)
	}

	// Third run: the same-tag release is refused loudly, nothing written.
	start := time.Now()
	cmd = tagrelay(env, args...)
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if exitCode(err) != 3 || !strings.Contains(string(out), "already released") || !strings.Contains(string(out), "nothing was written") {
		t.Errorf("same-tag release: exit %d after %s\n%s", exitCode(err), time.Since(start), out)
	}
	if again, _ := git.Log("team/infra", "main"); len(again) != 2 {
		t.Errorf("the refused release added commits: %d", len(again))
	}
}

// exitCode returns the exit code of a finished command's error (0 for nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
