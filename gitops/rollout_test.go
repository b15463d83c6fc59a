package gitops

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
)

func mustImage(t *testing.T, s string) Image {
	t.Helper()
	img, err := ParseImage(s)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestParseImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in        string
		match     []string
		noMatch   []string
		wantError bool
	}{
		{in: "nginx:1.27", match: []string{"nginx:1.27", "docker.io/library/nginx:1.27", "index.docker.io/library/nginx:1.27@sha256:" + strings.Repeat("a", 64)},
			noMatch: []string{"nginx:1.26", "nginx", "example.com/nginx:1.27", "nginx-extra:1.27"}},
		{in: "10.0.0.1:5000/team/web:1a2b3c4d", match: []string{"10.0.0.1:5000/team/web:1a2b3c4d"}, noMatch: []string{"10.0.0.1:5000/team/web:5000"}},
		{in: "example.com/web@sha256:" + strings.Repeat("b", 64), match: []string{"example.com/web:v1@sha256:" + strings.Repeat("b", 64), "example.com/web@sha256:" + strings.Repeat("b", 64)},
			noMatch: []string{"example.com/web:v1"}},
		{in: "example.com/web", wantError: true}, // strict: a tag or digest is required
		{in: "Example.com/Web:v1", wantError: true},
		{in: "", wantError: true},
	} {
		img, err := ParseImage(tc.in)
		if tc.wantError {
			if err == nil || exitcode.Code(err) != exitcode.Usage {
				t.Errorf("ParseImage(%q) = %v, want a usage error", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseImage(%q) = %v", tc.in, err)
		}
		for _, m := range tc.match {
			if !img.matches(m) {
				t.Errorf("ParseImage(%q).matches(%q) = false, want true", tc.in, m)
			}
		}
		for _, m := range tc.noMatch {
			if img.matches(m) {
				t.Errorf("ParseImage(%q).matches(%q) = true, want false", tc.in, m)
			}
		}
	}
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func web(ready bool) workload {
	return workload{Kind: "Deployment", Namespace: "apps", Name: "web", Ready: ready, Message: "rolling"}
}

func webPod(uid, image string, ready bool) pod {
	return pod{UID: uid, Namespace: "apps", Name: "web-" + uid, Workload: "Deployment apps/web", Images: []string{image}, Ready: ready, Created: t0}
}

// TestJudgement walks the verdicts both reconcilers share through the states a rollout goes by.
func TestJudgement(t *testing.T) {
	t.Parallel()
	v2 := []Image{mustImage(t, "example.com/web:v2")}
	old := snapshot{Workloads: []workload{web(true)}, Pods: []pod{webPod("a", "example.com/web:v1", true)}}
	rolling := snapshot{Workloads: []workload{web(false)}, Pods: []pod{webPod("a", "example.com/web:v1", true), webPod("b", "example.com/web:v2", false)}}
	done := snapshot{Workloads: []workload{web(true)}, Pods: []pod{webPod("b", "example.com/web:v2", true)}}
	broken := snapshot{Workloads: []workload{web(false)}, Pods: []pod{webPod("a", "example.com/web:v1", true), webPod("c", "example.com/web:v2", false)}}
	broken.Pods[1].Problem = "container web CrashLoopBackOff: back-off"

	if ok, _ := old.runningSince(v2); ok {
		t.Error("v1 running: runningSince(v2) = true")
	}
	if ok, since := done.runningSince(v2); !ok || !since.Equal(t0) {
		t.Errorf("v2 running: runningSince(v2) = %v, %v; want true, %v", ok, since, t0)
	}
	if ok, _ := rolling.runningSince(v2); ok {
		t.Error("mid-rollout: runningSince(v2) = true, want false (v1 still runs)")
	}
	if p := pending(rolling, v2); !strings.Contains(p, "Deployment apps/web not rolled out") {
		t.Errorf("pending(rolling) = %q", p)
	}
	if p := pending(done, v2); p != "" {
		t.Errorf("pending(done) = %q, want done", p)
	}
	if p := failures(old, broken, v2); len(p) != 1 || p[0].Object != "Pod apps/web-c" || !strings.Contains(p[0].Message, "CrashLoopBackOff") {
		t.Errorf("failures(broken) = %v, want pod web-c CrashLoopBackOff", p)
	}
	if p := failures(old, rolling, v2); len(p) != 0 {
		t.Errorf("failures(rolling) = %v, want none", p)
	}
	if err := nothingRolled("app", "rev", old, done, v2); err != nil {
		t.Errorf("nothingRolled(v1 → v2) = %v, want nil", err)
	}
	err := nothingRolled("app", "rev", done, done, v2)
	if !errors.Is(err, ErrNothingRolled) || exitcode.Code(err) != exitcode.Noop || !strings.Contains(err.Error(), "since 2025-01-02T03:04:05Z") {
		t.Errorf("nothingRolled(v2 → v2) = %v, want ErrNothingRolled (exit 3) with the time it runs since", err)
	}
	if err := nothingRolled("app", "rev", old, old, nil); !errors.Is(err, ErrNothingRolled) {
		t.Errorf("nothingRolled(no expectation, nothing new) = %v, want ErrNothingRolled", err)
	}
	if err := nothingRolled("app", "rev", old, done, nil); err != nil {
		t.Errorf("nothingRolled(no expectation, new pod) = %v, want nil", err)
	}
}

func TestNotDeployed(t *testing.T) {
	t.Parallel()
	v2 := []Image{mustImage(t, "example.com/web:v2")}
	for _, tc := range []struct {
		name string
		s    snapshot
		want string // "" for nil
	}{
		{"settled at another tag", snapshot{Workloads: []workload{web(true)}, Pods: []pod{webPod("a", "example.com/web:v1", true)}},
			"runs example.com/web:v1, not example.com/web:v2"},
		{"no workload of the repository", snapshot{Workloads: []workload{web(true)}, Pods: []pod{webPod("a", "example.com/api:v2", true)}},
			"no workload at rev runs an image of example.com/web"},
		{"rolling", snapshot{Workloads: []workload{web(false)}, Pods: []pod{webPod("a", "example.com/web:v1", true)}}, ""},
		{"old pod lingering next to the new one", snapshot{Workloads: []workload{web(true)},
			Pods: []pod{webPod("a", "example.com/web:v1", true), webPod("b", "example.com/web:v2", true)}}, ""},
	} {
		err := notDeployed("app", "rev", tc.s, v2)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: notDeployed() = %v, want nil", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrImageNotDeployed) || !errors.Is(err, errdefs.ErrNoop) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: notDeployed() = %v, want ErrImageNotDeployed containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRolloutErrorMessage(t *testing.T) {
	t.Parallel()
	e := &RolloutError{Target: "argocd app web", Revision: strings.Repeat("ab", 20), Reason: "sync Failed: one or more objects failed to apply",
		Problems: []Problem{{Object: "Deployment apps/web", Status: "SyncFailed", Message: "admission webhook denied"}}}
	got := e.Error()
	want := "argocd app web: rollout failed at abababab: sync Failed: one or more objects failed to apply; Deployment apps/web SyncFailed: admission webhook denied"
	if got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrRolloutFailed) || exitcode.Code(e) != exitcode.Failure {
		t.Errorf("RolloutError: Is(ErrRolloutFailed) = %v, exit code %d; want true, 1", errors.Is(e, ErrRolloutFailed), exitcode.Code(e))
	}
}
