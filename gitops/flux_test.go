package gitops_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/errdefs"
	"github.com/tagrelay/tagrelay/internal/exitcode"
	"github.com/tagrelay/tagrelay/internal/fluxtest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// fluxApp is a fluxtest.App deployed once at v1 through gitops.Flux.
type fluxApp struct {
	*fluxtest.App
	flux   *fluxtest.Flux
	ns     string
	ks     gitops.ObjectRef
	client *gitops.Flux
}

func newFluxApp(t *testing.T) *fluxApp {
	t.Helper()
	f := fluxtest.Shared(t)
	a := &fluxApp{App: fluxtest.NewApp(t, f, "example.com/web:v1"), flux: f}
	a.ns = a.Namespace
	a.ks = gitops.ObjectRef{Kind: "Kustomization", Namespace: a.ns, Name: "web"}
	cfg, err := gitops.LoadKubeconfig([]string{f.Cluster.Kubeconfig}, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.client, err = gitops.NewFlux(cfg, gitops.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil)))); err != nil {
		t.Fatal(err)
	}
	// The first deploy is a trigger too: v1 is new to the namespace.
	if _, err := a.client.Reconcile(ctxFor(t, 2*time.Minute), a.ks, gitops.ReconcileOptions{Expect: mustImages(t, "example.com/web:v1")}); err != nil {
		t.Fatalf("first Reconcile() = %v", err)
	}
	return a
}

func (a *fluxApp) commit(t *testing.T, image string) string {
	t.Helper()
	return a.Deploy(t, image)
}

// testWriter sends a logger's lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestFluxReconcile drives real source- and kustomize-controllers through the three outcomes of
// a trigger: a new image rolls out (exit 0), the same image again is a no-op (exit 3, nothing
// rolled), a broken image fails with the pods' reason (exit 1).
func TestFluxReconcile(t *testing.T) {
	t.Run("new image rolls out", func(t *testing.T) {
		t.Parallel()
		a := newFluxApp(t)
		commit := a.commit(t, "example.com/web:v2")
		res, err := a.client.Reconcile(ctxFor(t, 2*time.Minute), a.ks, gitops.ReconcileOptions{Expect: mustImages(t, "example.com/web:v2")})
		if err != nil {
			t.Fatalf("Reconcile() = %v", err)
		}
		if want := "main@sha1:" + commit; res.Revision != want {
			t.Errorf("Revision = %s, want %s", res.Revision, want)
		}
		if !slices.Equal(res.ImagesBefore, []string{"example.com/web:v1"}) || !slices.Equal(res.Images, []string{"example.com/web:v2"}) {
			t.Errorf("images %v → %v, want [example.com/web:v1] → [example.com/web:v2]", res.ImagesBefore, res.Images)
		}
		d := deployment(t, a.flux.Cluster, a.ns)
		if img := kubetest.Image(d.Spec.Template.Spec); img != "example.com/web:v2" || d.Status.UpdatedReplicas != 2 || d.Status.ReadyReplicas != 2 {
			t.Errorf("Deployment web: %s, %d updated, %d ready; want example.com/web:v2 rolled out on 2", img, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
		}
		t.Log(res.Describe())
	})
	t.Run("same image is a no-op", func(t *testing.T) {
		t.Parallel()
		a := newFluxApp(t)
		pods := podUIDs(t, a.flux.Cluster, a.ns)
		gen := deployment(t, a.flux.Cluster, a.ns).Generation
		_, err := a.client.Reconcile(ctxFor(t, 2*time.Minute), a.ks, gitops.ReconcileOptions{Expect: mustImages(t, "example.com/web:v1")})
		wantErr(t, err, gitops.ErrNothingRolled, exitcode.Noop, "example.com/web:v1 already ran before the trigger", "nothing rolled")
		if errdefs.Hint(err) == "" {
			t.Error("no hint on the no-op error")
		}
		if got := podUIDs(t, a.flux.Cluster, a.ns); !slices.Equal(got, pods) {
			t.Errorf("pods %v → %v: something rolled", pods, got)
		}
		if g := deployment(t, a.flux.Cluster, a.ns).Generation; g != gen {
			t.Errorf("Deployment generation %d → %d: it changed", gen, g)
		}
	})
	t.Run("broken image fails with the reason", func(t *testing.T) {
		t.Parallel()
		a := newFluxApp(t)
		a.commit(t, "example.com/web:broken")
		_, err := a.client.Reconcile(ctxFor(t, 2*time.Minute), a.ks, gitops.ReconcileOptions{Expect: mustImages(t, "example.com/web:broken")})
		wantErr(t, err, gitops.ErrRolloutFailed, exitcode.Failure, "flux kustomization "+a.ns+"/web: rollout failed", "CrashLoopBackOff", "simulated by kwok stage")
	})
	t.Run("image not in the revision", func(t *testing.T) {
		t.Parallel()
		a := newFluxApp(t)
		a.commit(t, "example.com/web:v2")
		_, err := a.client.Reconcile(ctxFor(t, 2*time.Minute), a.ks, gitops.ReconcileOptions{Expect: mustImages(t, "example.com/web:v3")})
		wantErr(t, err, gitops.ErrImageNotDeployed, exitcode.Noop, "runs example.com/web:v2, not example.com/web:v3")
	})
}

// TestFluxReconcileRefused: a missing or suspended Kustomization is refused before anything is
// annotated (exit 4).
func TestFluxReconcileRefused(t *testing.T) {
	a := newFluxApp(t)
	_, err := a.client.Reconcile(ctxFor(t, time.Minute), gitops.ObjectRef{Namespace: a.ns, Name: "nope"}, gitops.ReconcileOptions{})
	wantErr(t, err, gitops.ErrNotFound, exitcode.Precondition, "Kustomization "+a.ns+"/nope")

	ks := fluxtest.Kustomization(a.ns, "web", "infra", "./app", time.Hour)
	ks.Object["spec"].(map[string]any)["suspend"] = true
	if err := a.flux.Apply(ctxFor(t, time.Minute), ks); err != nil {
		t.Fatal(err)
	}
	_, err = a.client.Reconcile(ctxFor(t, time.Minute), a.ks, gitops.ReconcileOptions{})
	wantErr(t, err, gitops.ErrSuspended, exitcode.Precondition, "Kustomization "+a.ns+"/web: suspended")
}

func TestParseFluxRefs(t *testing.T) {
	t.Parallel()
	if r, err := gitops.ParseKustomization("apps/web"); err != nil || r != (gitops.ObjectRef{Kind: "Kustomization", Namespace: "apps", Name: "web"}) {
		t.Errorf("ParseKustomization(apps/web) = %v, %v", r, err)
	}
	if r, err := gitops.ParseSource("gitrepository/flux-system/infra"); err != nil || r != (gitops.ObjectRef{Kind: "GitRepository", Namespace: "flux-system", Name: "infra"}) {
		t.Errorf("ParseSource(gitrepository/flux-system/infra) = %v, %v", r, err)
	}
	for _, bad := range []string{"web", "/web", "apps/", "a/b/c"} {
		if _, err := gitops.ParseKustomization(bad); exitcode.Code(err) != exitcode.Usage {
			t.Errorf("ParseKustomization(%q) = %v, want a usage error", bad, err)
		}
	}
	for _, bad := range []string{"apps/web", "HelmRepository/apps/web", "GitRepository//web"} {
		if _, err := gitops.ParseSource(bad); exitcode.Code(err) != exitcode.Usage {
			t.Errorf("ParseSource(%q) = %v, want a usage error", bad, err)
		}
	}
}
