package reconcile_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
)

// BenchmarkDriftCheck measures one drift check of an app in sync (a Deployment of 2 replicas, a
// Service and a ConfigMap), what the server does for every app once per --drift-interval: the
// dry-run sync (Preview: the cached commit, the render, the live objects, the server-side
// dry run) and the tree read for the console's health; cpu-ms/op is the CPU time it costs the
// process (the steady-state figure of issue 12), next to the wall time. tagrelay-unchanged is
// a check of an app found in sync before whose commit, spec and objects did not change: it
// reads their versions only (metadata-only GETs) and skips the rest. The peer is what a user runs for the
// same question, `kubectl diff --server-side` on the same files (no render, no tree):
//
//	go test ./reconcile -run '^$' -bench DriftCheck -benchtime 200x
func BenchmarkDriftCheck(b *testing.B) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		b.Skip("kubectl is not installed (apt-get install kubectl): no peer to compare with")
	}
	c := kubetest.Shared(b)
	ns, sys := kubetest.Namespace(b, c), kubetest.Namespace(b, c)
	git := gittest.New(b)
	git.MustCreateRepo(b, "infra")
	files := map[string]string{"apps/web/deploy.yaml": deploymentYAML("web", "example.com/web:v1"),
		"apps/web/config.yaml": configMapYAML("web-config"),
		"apps/web/svc.yaml":    "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"}
	git.MustCommit(b, "infra", "main", "web", files)
	r, err := reconcile.New(c.RESTConfig(), reconcile.Options{Namespace: sys, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	cfg := reconcile.Config{Apps: []reconcile.App{{Name: "web", Repo: git.RepoURL("infra"), Path: "apps/web", Namespace: ns,
		Timeout: reconcile.Duration(time.Minute)}}}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	app := cfg.Apps[0]
	ctx := context.Background()
	if _, err := r.Sync(ctx, app, reconcile.SyncOptions{Trigger: reconcile.TriggerCLI}); err != nil {
		b.Fatal(err)
	}
	b.Run("tagrelay", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			pv, err := r.Preview(ctx, app)
			if err != nil {
				b.Fatal(err)
			}
			if pv.OutOfSync() {
				b.Fatalf("drift check of an app in sync: out of sync: %+v", pv.Result.Objects)
			}
			if _, err := r.Tree(ctx, app); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	})
	// a check of an app found in sync before, whose commit, spec and objects did not change
	b.Run("tagrelay-unchanged", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			if n, err := reconcile.ReadVersions(ctx, r, app.Name); err != nil || n != 3 {
				b.Fatalf("ReadVersions = %d objects, %v; want 3", n, err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	})
	b.Run("kubectl-diff", func(b *testing.B) {
		dir := b.TempDir()
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(data), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		cpu0 := childCPU()
		for b.Loop() {
			// exit 1: differences, which the first kubectl diff of objects another manager
			// applied may show (field ownership); both say the same live state, so go on
			out, err := exec.Command(kubectl, "--kubeconfig", c.Kubeconfig, "diff", "--server-side", "--force-conflicts",
				"-n", ns, "-f", dir).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
				b.Fatalf("kubectl diff: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(childCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	})
}

// childCPU is the CPU time (user and system) of the process's children that ended so far.
func childCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
