package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/tagrelay/tagrelay/internal/gittest"
)

type procResult struct {
	code           int
	stdout, stderr string
}

// runAll starts every command at once and waits for all of them.
func runAll(t *testing.T, cmds []*exec.Cmd) []procResult {
	t.Helper()
	res := make([]procResult, len(cmds))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, cmd := range cmds {
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := cmd.Run()
			res[i] = procResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
			if err != nil && cmd.ProcessState == nil {
				t.Errorf("starting process %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return res
}

const token = "glpat-e2e-Secr3tToken"

func kustomizationWith(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\nimages:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: harbor.example/team/svc%02d\n    newTag: v0 # service %d\n", i, i)
	}
	return b.String()
}

// TestBumpTwentyConcurrentImages: 20 pipelines bump 20 different images of one
// kustomization.yaml at the same moment over smart HTTP. Every change lands, the history is
// linear, one image per commit.
func TestBumpTwentyConcurrentImages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	t.Parallel()
	s := gittest.New(t, gittest.WithBasicAuth("oauth2", token))
	s.MustCreateRepo(t, "team/infra")
	base := s.MustCommit(t, "team/infra", "main", "seed", map[string]string{"prod/kustomization.yaml": kustomizationWith(20)})
	var cmds []*exec.Cmd
	for i := range 20 {
		cmds = append(cmds, tagrelay([]string{"GITLAB_TOKEN=" + token},
			"bump", "--repo", s.RepoURL("team/infra"), "--file", "prod/kustomization.yaml",
			"--image", fmt.Sprintf("harbor.example/team/svc%02d", i), "--tag", fmt.Sprintf("c%07d", i), "--no-verify-image"))
	}
	for i, r := range runAll(t, cmds) {
		if r.code != 0 {
			t.Errorf("process %d: exit %d: %s", i, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, token) {
			t.Errorf("process %d printed the token", i)
		}
	}
	got := s.MustReadFile(t, "team/infra", "main", "prod/kustomization.yaml")
	want := kustomizationWith(20)
	for i := range 20 {
		want = strings.Replace(want, fmt.Sprintf("svc%02d\n    newTag: v0", i), fmt.Sprintf("svc%02d\n    newTag: c%07d", i, i), 1)
	}
	if got != want {
		t.Errorf("final kustomization.yaml:\n%s\nwant:\n%s", got, want)
	}
	log, err := s.Log("team/infra", "main")
	if err != nil || len(log) != 21 || log[20] != base {
		t.Fatalf("first-parent history has %d commits (%v), want 21 ending at the seed", len(log), err)
	}
	if merges, _ := s.Git("team/infra", "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("history has merges: %s", merges)
	}
	for _, c := range log[:20] {
		diff, _ := s.Git("team/infra", "diff", "--unified=0", c+"^", c)
		if n := strings.Count(diff, "\n+    newTag:"); n != 1 {
			t.Errorf("commit %s changes %d images, want 1:\n%s", c, n, diff)
		}
	}
}

// TestBumpTenConcurrentTagsOfOneImage: 10 pipelines set one image to 10 different tags at once.
// The file ends with exactly one of them, intact; every process exits 0 or with the conflict
// code 4.
func TestBumpTenConcurrentTagsOfOneImage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 10 processes")
	}
	t.Parallel()
	s := gittest.New(t, gittest.WithBasicAuth("oauth2", token))
	s.MustCreateRepo(t, "team/infra")
	s.MustCommit(t, "team/infra", "main", "seed", map[string]string{"prod/kustomization.yaml": kustomizationWith(3)})
	var cmds []*exec.Cmd
	for i := range 10 {
		cmds = append(cmds, tagrelay([]string{"GITLAB_TOKEN=" + token},
			"bump", "--repo", s.RepoURL("team/infra"), "--file", "prod/kustomization.yaml",
			"--image", "harbor.example/team/svc01", "--tag", fmt.Sprintf("t%d", i), "--no-verify-image"))
	}
	ok := 0
	for i, r := range runAll(t, cmds) {
		switch r.code {
		case 0:
			ok++
		case 4:
			if !strings.Contains(r.stderr, "push rejected") {
				t.Errorf("process %d: exit 4 without a conflict message: %s", i, r.stderr)
			}
		default:
			t.Errorf("process %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	if ok == 0 {
		t.Errorf("no process succeeded")
	}
	got := s.MustReadFile(t, "team/infra", "main", "prod/kustomization.yaml")
	final := ""
	for i := range 10 {
		cand := strings.Replace(kustomizationWith(3), "svc01\n    newTag: v0", fmt.Sprintf("svc01\n    newTag: t%d", i), 1)
		if got == cand {
			final = fmt.Sprintf("t%d", i)
		}
	}
	if final == "" {
		t.Errorf("final file is not the seed with one of the 10 tags:\n%s", got)
	}
	if log, _ := s.Log("team/infra", "main"); len(log) != ok+1 {
		t.Errorf("history has %d commits, want one per successful process (%d) + seed", len(log), ok)
	}
}
