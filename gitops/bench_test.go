package gitops_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/gitops"
	"github.com/tagrelay/tagrelay/internal/fluxtest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
)

// BenchmarkArgoCDTrigger measures, on one Application of the real Argo CD, the time from
// "trigger" to "the new image runs on every pod" for gitops.ArgoCD.Sync (what `tagrelay trigger
// argocd --wait` runs) and for the argocd CLI of the same build, the documented way:
// `argocd app sync APP` then `argocd app wait APP --health`. Each iteration commits a new tag for
// each side. For the CLI it reports when the commands returned and when the image actually ran
// (the cluster polled every 50 ms after the CLI returned), and how often the CLI returned before
// the image ran. Run: go test ./gitops -run '^$' -bench ArgoCDTrigger -benchtime 5x
func BenchmarkArgoCDTrigger(b *testing.B) {
	a := newArgoApp(b)
	cfg := b.TempDir()
	host := strings.TrimPrefix(a.argocd.URL, "https://")
	cli := func(ctx context.Context, args ...string) error {
		args = append(args, "--server", host, "--auth-token", a.Token, "--insecure", "--config", cfg+"/config")
		cmd := exec.CommandContext(ctx, a.argocd.Binary, args...)
		cmd.Env = append(os.Environ(), "ARGOCD_BINARY_NAME=argocd", "HOME="+cfg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("argocd %s: %w: %s", args[0]+" "+args[1], err, out)
		}
		return nil
	}
	var ours, cliReturned, cliRunning time.Duration
	early := 0
	b.ResetTimer()
	for i := range b.N {
		img := fmt.Sprintf("example.com/web:t%d", i)
		a.Deploy(b, img)
		start := time.Now()
		if _, err := a.client.Sync(ctxFor(b, 2*time.Minute), a.Name, gitops.SyncOptions{Expect: mustImages(b, img)}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)

		img = fmt.Sprintf("example.com/web:a%d", i)
		a.Deploy(b, img)
		ctx := ctxFor(b, 2*time.Minute)
		start = time.Now()
		if err := cli(ctx, "app", "sync", a.Name, "--timeout", "120"); err != nil {
			b.Fatal(err)
		}
		if err := cli(ctx, "app", "wait", a.Name, "--health", "--timeout", "120"); err != nil {
			b.Fatal(err)
		}
		cliReturned += time.Since(start)
		if !imageRuns(b, a, img) {
			early++
			for !imageRuns(b, a, img) {
				if ctx.Err() != nil {
					b.Fatalf("%s never ran after argocd app wait returned", img)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		cliRunning += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "tagrelay-s/op")
	b.ReportMetric(cliReturned.Seconds()/n, "argocd-cli-returned-s/op")
	b.ReportMetric(cliRunning.Seconds()/n, "argocd-cli-image-running-s/op")
	b.ReportMetric(ours.Seconds()/cliRunning.Seconds(), "ratio-tagrelay/argocd")
	b.ReportMetric(float64(early)/n, "argocd-cli-returned-early/op")
}

// imageRuns: every pod of Deployment web is ready and runs img, and no other pod is left.
func imageRuns(t testing.TB, a *argoApp, img string) bool {
	t.Helper()
	return deploymentRuns(t, a.argocd.Cluster, a.Name, img)
}

// deploymentRuns: Deployment web of ns is rolled out at img.
func deploymentRuns(t testing.TB, c *kubetest.Cluster, ns, img string) bool {
	t.Helper()
	d := deployment(t, c, ns)
	if kubetest.Image(d.Spec.Template.Spec) != img || d.Status.ObservedGeneration != d.Generation ||
		d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.Replicas != *d.Spec.Replicas {
		return false
	}
	return true
}

// BenchmarkFluxTrigger measures, on one Kustomization of the real Flux controllers, the time from
// "trigger" to "the new image runs on every pod" for gitops.Flux.Reconcile (what `tagrelay
// trigger flux --wait` runs) and for what a pipeline scripts without it, with kubectl: what `flux
// reconcile kustomization --with-source` does (annotate the source, wait until it handled the
// request, the same for the Kustomization), then `kubectl rollout status`. Each iteration commits
// a new tag for each side; it reports how often the script returned before the image ran.
// Run: go test ./gitops -run '^$' -bench FluxTrigger -benchtime 5x
func BenchmarkFluxTrigger(b *testing.B) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Skip("kubectl not found")
	}
	f := fluxtest.Shared(b)
	app := fluxtest.NewApp(b, f, "example.com/web:v0")
	cfg, err := gitops.LoadKubeconfig([]string{f.Cluster.Kubeconfig}, "")
	if err != nil {
		b.Fatal(err)
	}
	client, err := gitops.NewFlux(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ks := gitops.ObjectRef{Kind: "Kustomization", Namespace: app.Namespace, Name: "web"}
	if _, err := client.Reconcile(ctxFor(b, 2*time.Minute), ks, gitops.ReconcileOptions{Expect: mustImages(b, "example.com/web:v0")}); err != nil {
		b.Fatal(err)
	}
	k := func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", f.Cluster.Kubeconfig, "-n", app.Namespace}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	script := func(ctx context.Context) error {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, obj := range []string{"gitrepository/infra", "kustomization/web"} {
			if err := k(ctx, "annotate", "--overwrite", obj, "reconcile.fluxcd.io/requestedAt="+now); err != nil {
				return err
			}
			if err := k(ctx, "wait", obj, "--timeout=2m", "--for=jsonpath={.status.lastHandledReconcileAt}="+now); err != nil {
				return err
			}
		}
		return k(ctx, "rollout", "status", "deployment/web", "--timeout=2m")
	}
	var ours, kubectlReturned, kubectlRunning time.Duration
	early := 0
	b.ResetTimer()
	for i := range b.N {
		img := fmt.Sprintf("example.com/web:t%d", i)
		app.Deploy(b, img)
		start := time.Now()
		if _, err := client.Reconcile(ctxFor(b, 2*time.Minute), ks, gitops.ReconcileOptions{Expect: mustImages(b, img)}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)

		img = fmt.Sprintf("example.com/web:k%d", i)
		app.Deploy(b, img)
		ctx := ctxFor(b, 2*time.Minute)
		start = time.Now()
		if err := script(ctx); err != nil {
			b.Fatal(err)
		}
		kubectlReturned += time.Since(start)
		if !deploymentRuns(b, f.Cluster, app.Namespace, img) {
			early++
			for !deploymentRuns(b, f.Cluster, app.Namespace, img) {
				if ctx.Err() != nil {
					b.Fatalf("%s never ran after the kubectl script returned", img)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		kubectlRunning += time.Since(start)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "tagrelay-s/op")
	b.ReportMetric(kubectlReturned.Seconds()/n, "kubectl-script-returned-s/op")
	b.ReportMetric(kubectlRunning.Seconds()/n, "kubectl-script-image-running-s/op")
	b.ReportMetric(ours.Seconds()/kubectlRunning.Seconds(), "ratio-tagrelay/kubectl")
	b.ReportMetric(float64(early)/n, "kubectl-script-returned-early/op")
}
