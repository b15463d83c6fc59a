package gitops_test

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/argocdtest"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// argoApp is an argocdtest.App deployed once at v1 through gitops.ArgoCD.
type argoApp struct {
	*argocdtest.App
	argocd *argocdtest.ArgoCD
	client *gitops.ArgoCD
}

func newArgoApp(t testing.TB) *argoApp {
	t.Helper()
	ac := argocdtest.Shared(t)
	a := &argoApp{App: argocdtest.NewApp(t, ac, "example.com/web:v1"), argocd: ac}
	a.client = a.newClient(t, a.Token)
	// The first deploy is a trigger too: v1 is new to the namespace.
	if _, err := a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v1")}); err != nil {
		t.Fatalf("first Sync() = %v", err)
	}
	return a
}

func (a *argoApp) newClient(t testing.TB, token string) *gitops.ArgoCD {
	t.Helper()
	c, err := gitops.NewArgoCD(a.argocd.URL, token, gitops.WithCAFile(a.argocd.CAFile),
		gitops.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestArgoCDSync drives a real Argo CD (API server, application controller, repo-server) through
// its REST API: a new image rolls out (exit 0), the same image again is a no-op refused before
// any sync (exit 3), a broken image fails with the pods' reason (exit 1).
func TestArgoCDSync(t *testing.T) {
	t.Run("new image rolls out", func(t *testing.T) {
		t.Parallel()
		a := newArgoApp(t)
		commit := a.Deploy(t, "example.com/web:v2")
		res, err := a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v2")})
		if err != nil {
			t.Fatalf("Sync() = %v", err)
		}
		if res.Revision != commit {
			t.Errorf("Revision = %s, want %s", res.Revision, commit)
		}
		if !slices.Equal(res.ImagesBefore, []string{"example.com/web:v1"}) || !slices.Equal(res.Images, []string{"example.com/web:v2"}) {
			t.Errorf("images %v → %v, want [example.com/web:v1] → [example.com/web:v2]", res.ImagesBefore, res.Images)
		}
		d := deployment(t, a.argocd.Cluster, a.Name)
		if img := kubetest.Image(d.Spec.Template.Spec); img != "example.com/web:v2" || d.Status.UpdatedReplicas != 2 || d.Status.ReadyReplicas != 2 {
			t.Errorf("Deployment web: %s, %d updated, %d ready; want example.com/web:v2 rolled out on 2", img, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
		}
		t.Log(res.Describe())
	})
	t.Run("same image is a no-op", func(t *testing.T) {
		t.Parallel()
		a := newArgoApp(t)
		op := a.Operation(t)
		pods := podUIDs(t, a.argocd.Cluster, a.Name)
		_, err := a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v1")})
		wantErr(t, err, gitops.ErrNothingRolled, exitcode.Noop, "argocd app "+a.Name+" (Synced, not synced again)", "example.com/web:v1 already ran")
		if got := a.Operation(t); got != op {
			t.Errorf("last operation %q → %q: a sync ran", op, got)
		}
		if got := podUIDs(t, a.argocd.Cluster, a.Name); !slices.Equal(got, pods) {
			t.Errorf("pods %v → %v: something rolled", pods, got)
		}
	})
	t.Run("same image with restart rolls", func(t *testing.T) {
		t.Parallel()
		a := newArgoApp(t)
		pods := podUIDs(t, a.argocd.Cluster, a.Name)
		res, err := a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v1"), Restart: true})
		if err != nil || !res.Restarted {
			t.Fatalf("Sync(restart) = %+v, %v; want restarted", res, err)
		}
		for _, uid := range podUIDs(t, a.argocd.Cluster, a.Name) {
			if slices.Contains(pods, uid) {
				t.Errorf("pod %s survived the restart", uid)
			}
		}
	})
	t.Run("broken image fails with the reason", func(t *testing.T) {
		t.Parallel()
		a := newArgoApp(t)
		a.Deploy(t, "example.com/web:broken")
		_, err := a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:broken")})
		wantErr(t, err, gitops.ErrRolloutFailed, exitcode.Failure, "argocd app "+a.Name+": rollout failed", "Degraded", "simulated by kwok stage")
	})
	t.Run("unknown application", func(t *testing.T) {
		t.Parallel()
		a := newArgoApp(t)
		_, err := a.client.Sync(ctxFor(t, time.Minute), "no-such-app", gitops.SyncOptions{})
		wantErr(t, err, gitops.ErrNotFound, exitcode.Precondition, "argocd app no-such-app")
	})
}

// TestArgoCDOperationRunning: a sync stuck in its first wave (a Deployment that never becomes
// healthy holds back wave 1) is a real "another operation is already in progress". A trigger
// waits for it: it says so when its time runs out (exit 4), and syncs once the operation ends.
func TestArgoCDOperationRunning(t *testing.T) {
	a := newArgoApp(t)
	a.Commit(t, map[string]string{
		"app/web.yaml": kubetest.DeploymentYAML("web", "example.com/web:broken", 2),
		"app/later.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\n  annotations:\n" +
			"    argocd.argoproj.io/sync-wave: \"1\"\ndata: {k: v}\n",
	})
	a.argocd.MustDo(t, a.Token, "POST", "/api/v1/applications/"+a.Name+"/sync", map[string]any{"name": a.Name}, nil)
	waitPhase(t, a, "Running")

	good := a.Commit(t, map[string]string{"app/web.yaml": kubetest.DeploymentYAML("web", "example.com/web:v2", 2), "-app/later.yaml": ""})
	// The operation never ends by itself: any bound shows the verdict; 20 s leaves the refresh
	// that comes first time on a loaded machine.
	_, err := a.client.Sync(ctxFor(t, 20*time.Second), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v2")})
	wantErr(t, err, gitops.ErrOperationRunning, exitcode.Precondition, "argocd app "+a.Name+": another sync operation is running", "operation Running since", "by admin")

	done := make(chan error, 1)
	var res *gitops.Result
	go func() {
		var err error
		res, err = a.client.Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v2")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Sync() returned %v while the operation runs", err)
	case <-time.After(3 * time.Second):
	}
	a.argocd.MustDo(t, a.Token, "DELETE", "/api/v1/applications/"+a.Name+"/operation", nil, nil) // argocd app terminate-op
	if err := <-done; err != nil {
		t.Fatalf("Sync() after the operation ended = %v", err)
	}
	if res.Revision != good {
		t.Errorf("Revision = %s, want %s", res.Revision, good)
	}
}

func waitPhase(t *testing.T, a *argoApp, phase string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var app struct {
			Status struct {
				OperationState struct{ Phase, Message string }
			}
		}
		a.argocd.MustDo(t, a.Token, "GET", "/api/v1/applications/"+a.Name, nil, &app)
		if app.Status.OperationState.Phase == phase {
			t.Logf("operation %s: %s", phase, app.Status.OperationState.Message)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation phase %q, want %q", app.Status.OperationState.Phase, phase)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestArgoCDToken: a project role's token can drive a trigger; once expired (a real token,
// issued with expiresIn 1 s), or when it is garbage, the trigger stops with a clear auth error
// (exit 1) and never prints the token.
func TestArgoCDToken(t *testing.T) {
	a := newArgoApp(t)
	role := "ci-" + a.Name[len(a.Name)-6:]
	var proj map[string]any
	a.argocd.MustDo(t, a.Token, "GET", "/api/v1/projects/default", nil, &proj)
	spec := proj["spec"].(map[string]any)
	roles, _ := spec["roles"].([]any)
	spec["roles"] = append(roles, map[string]any{"name": role,
		"policies": []string{"p, proj:default:" + role + ", applications, *, default/" + a.Name + ", allow"}})
	a.argocd.MustDo(t, a.Token, "PUT", "/api/v1/projects/default", map[string]any{"project": proj}, nil)

	var tok struct{ Token string }
	a.argocd.MustDo(t, a.Token, "POST", "/api/v1/projects/default/roles/"+role+"/token", map[string]any{"expiresIn": 3600}, &tok)
	a.Deploy(t, "example.com/web:v2")
	if _, err := a.newClient(t, tok.Token).Sync(ctxFor(t, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(t, "example.com/web:v2")}); err != nil {
		t.Fatalf("Sync() with a project role token = %v", err)
	}

	a.argocd.MustDo(t, a.Token, "POST", "/api/v1/projects/default/roles/"+role+"/token", map[string]any{"expiresIn": 1}, &tok)
	time.Sleep(2 * time.Second)
	for name, token := range map[string]string{"expired": tok.Token, "garbage": "not-a-jwt"} {
		_, err := a.newClient(t, token).Sync(ctxFor(t, time.Minute), a.Name, gitops.SyncOptions{})
		wantErr(t, err, gitops.ErrUnauthorized, exitcode.Failure, "Argo CD refused the token", "401")
		var ae *gitops.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 {
			t.Errorf("%s token: err = %v, want a 401 APIError", name, err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("%s token: the error shows the token", name)
		}
		t.Logf("%s token: %v", name, err)
	}
}

// TestArgoCDTLS: argocd-server serves a certificate of a private CA. Without the CA the trigger
// stops at once (no retry makes a certificate trusted) with exit 1; skipping verification reaches
// the server.
func TestArgoCDTLS(t *testing.T) {
	ac := argocdtest.Shared(t)
	token := ac.AdminToken(t)
	var log bytes.Buffer
	c, err := gitops.NewArgoCD(ac.URL, token, gitops.WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sync(ctxFor(t, time.Minute), "web", gitops.SyncOptions{})
	wantErr(t, err, nil, exitcode.Failure, "certificate signed by unknown authority")
	if strings.Contains(log.String(), "retrying") {
		t.Errorf("a certificate error was retried: %s", log.String())
	}
	c, err = gitops.NewArgoCD(ac.URL, token, gitops.WithInsecureSkipVerify())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sync(ctxFor(t, time.Minute), "no-such-app", gitops.SyncOptions{})
	wantErr(t, err, gitops.ErrNotFound, exitcode.Precondition, "argocd app no-such-app")
}
