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
	d := deployment(t, a.argocd.Cluster, a.Name)
	if kubetest.Image(d.Spec.Template.Spec) != img || d.Status.ObservedGeneration != d.Generation ||
		d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.Replicas != *d.Spec.Replicas {
		return false
	}
	return true
}
