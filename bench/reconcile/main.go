// Command reconcile benchmarks tagrelay's reconciler against kubectl on the local test cluster
// (internal/kubetest), in the same run: an app of 300 objects (100 Deployments, 100 Services,
// 100 ConfigMaps) synced from a real smart-HTTP git server, versus `kubectl apply --server-side`
// and `kubectl diff --server-side` of the same rendered files, with kubectl from the cluster's
// own k8s-all binary.
//
//	go run ./bench/reconcile [-runs 5] [-objects 100]
//
// Each run uses fresh namespaces and a fresh Reconciler (cold discovery, like one CLI run);
// kubectl runs with a warm discovery cache, as on a workstation. Request counts are measured with
// a counting RoundTripper for tagrelay and kubectl's -v=6 "Response" lines.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
)

func main() {
	runs := flag.Int("runs", 5, "runs of every scenario")
	n := flag.Int("objects", 100, "objects of each kind (Deployment, Service, ConfigMap)")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	c, err := kubetest.Start(ctx, kubetest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()
	b, err := newBench(c, *n)
	if err != nil {
		c.Stop()
		log.Fatal(err)
	}
	defer b.git.Close()
	defer os.RemoveAll(b.home)
	for i := 1; i <= *runs; i++ {
		if err := b.run(ctx, i); err != nil {
			c.Stop()
			log.Fatal(err)
		}
	}
	b.report(*runs, *n)
}

type bench struct {
	cluster *kubetest.Cluster
	cs      kubernetes.Interface
	git     *gittest.Server
	kubectl string
	home    string // kubectl's HOME, with its discovery cache
	n       int
	results map[string][]sample
}

type sample struct {
	wall     time.Duration
	requests int64
}

func newBench(c *kubetest.Cluster, n int) (*bench, error) {
	bin, err := exec.Command("hack/testcluster.sh", "bindir").Output()
	if err != nil {
		return nil, fmt.Errorf("run from the repository root: hack/testcluster.sh bindir: %w", err)
	}
	g, err := gittest.Start()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "bench-kubectl-home-")
	if err != nil {
		return nil, err
	}
	b := &bench{cluster: c, cs: kubernetes.NewForConfigOrDie(c.RESTConfig()), git: g, n: n, home: home,
		kubectl: filepath.Join(strings.TrimSpace(string(bin)), "kubectl"), results: map[string][]sample{}}
	// Warm kubectl's discovery cache.
	if _, _, err := b.kubectlRun("get", "ns"); err != nil {
		return nil, err
	}
	return b, nil
}

// manifests renders the app: n Deployments, n Services, n ConfigMaps, one file per kind; the
// first Deployment runs image tag.
func manifests(n int, tag string) map[string]string {
	var deploy, svc, cm strings.Builder
	for i := range n {
		img := "example.com/app:v1"
		if i == 0 {
			img = "example.com/app:" + tag
		}
		fmt.Fprintf(&deploy, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app-%[1]d, labels: {app: app-%[1]d}}
spec:
  replicas: 1
  selector: {matchLabels: {app: app-%[1]d}}
  template:
    metadata: {labels: {app: app-%[1]d}}
    spec:
      containers:
      - name: app
        image: %[2]s
        ports: [{containerPort: 8080}]
        env: [{name: INDEX, value: "%[1]d"}]
`, i, img)
		fmt.Fprintf(&svc, `---
apiVersion: v1
kind: Service
metadata: {name: app-%[1]d}
spec:
  selector: {app: app-%[1]d}
  ports: [{port: 80, targetPort: 8080}]
`, i)
		fmt.Fprintf(&cm, `---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-%[1]d}
data: {index: "%[1]d", greeting: hello}
`, i)
	}
	return map[string]string{"app/deployments.yaml": deploy.String(), "app/services.yaml": svc.String(), "app/configmaps.yaml": cm.String()}
}

// run measures every scenario once, in fresh namespaces.
func (b *bench) run(ctx context.Context, i int) error {
	ours, theirs := fmt.Sprintf("bench-ours-%d", i), fmt.Sprintf("bench-kubectl-%d", i)
	for _, ns := range []string{ours, theirs} {
		if _, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	repo := fmt.Sprintf("infra-%d", i)
	if err := b.git.CreateRepo(repo); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-files-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	commit := func(tag string) error {
		files := manifests(b.n, tag)
		if _, err := b.git.Commit(repo, "main", "tag "+tag, files); err != nil {
			return err
		}
		for name, content := range files {
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	app := reconcile.App{Name: "bench", Repo: b.git.RepoURL(repo), Revision: "main", Path: "app", Namespace: ours, Timeout: reconcile.Duration(5 * time.Minute)}
	files := filepath.Join(dir, "app")
	steps := []struct {
		name string
		tag  string // commit this tag first ("" = no commit)
		ours reconcile.SyncOptions
		kube []string
	}{
		{"first sync (apply, no wait)", "v1", reconcile.SyncOptions{NoWait: true}, []string{"apply", "--server-side", "-f", files, "-n", theirs}},
		{"wait for rollout (ours only)", "", reconcile.SyncOptions{}, nil},
		{"diff after an image change", "v2", reconcile.SyncOptions{DryRun: true}, []string{"diff", "--server-side", "-f", files, "-n", theirs}},
		{"diff, cold (no fingerprints: every object dry-run)", "", reconcile.SyncOptions{DryRun: true, Revision: coldMarker}, []string{"diff", "--server-side", "-f", files, "-n", theirs}},
		{"one-image-change sync (apply, no wait)", "", reconcile.SyncOptions{NoWait: true}, []string{"apply", "--server-side", "-f", files, "-n", theirs}},
		{"wait for rollout (ours only)", "", reconcile.SyncOptions{}, nil},
		{"no-change sync (incl. health check)", "", reconcile.SyncOptions{}, []string{"apply", "--server-side", "-f", files, "-n", theirs}},
	}
	for _, s := range steps {
		if s.tag != "" {
			if err := commit(s.tag); err != nil {
				return err
			}
		}
		wall, reqs, err := b.sync(ctx, app, s.ours)
		if err != nil {
			return fmt.Errorf("%s: tagrelay: %w", s.name, err)
		}
		b.results[s.name+"|tagrelay"] = append(b.results[s.name+"|tagrelay"], sample{wall, reqs})
		if s.kube == nil {
			continue
		}
		start := time.Now()
		_, k, err := b.kubectlRun(s.kube...)
		if err != nil {
			return fmt.Errorf("%s: kubectl: %w", s.name, err)
		}
		b.results[s.name+"|kubectl"] = append(b.results[s.name+"|kubectl"], sample{time.Since(start), k})
	}
	for _, ns := range []string{ours, theirs} { // free the pods and service IPs for the next run
		if err := b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	log.Printf("run %d done", i)
	return nil
}

// sync runs one sync with a new Reconciler and counts its API requests.
func (b *bench) sync(ctx context.Context, app reconcile.App, opts reconcile.SyncOptions) (time.Duration, int64, error) {
	var count atomic.Int64
	cfg := b.cluster.RESTConfig()
	cfg.QPS, cfg.Burst = 0, 0 // the reconciler's own default
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			count.Add(1)
			return rt.RoundTrip(r)
		})
	}
	ns := "tagrelay-system"
	if opts.Revision == coldMarker { // a reconciler namespace without inventories
		ns, opts.Revision = "tagrelay-cold", ""
	}
	start := time.Now()
	r, err := reconcile.New(cfg, reconcile.Options{Namespace: ns, Logger: logger})
	if err != nil {
		return 0, 0, err
	}
	if _, err := r.Sync(ctx, app, opts); err != nil {
		return 0, 0, err
	}
	return time.Since(start), count.Load(), nil
}

// coldMarker asks sync for a reconciler that has no inventory of the app.
const coldMarker = "cold"

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// kubectlRun runs kubectl -v=6 and counts the API responses it logs. kubectl diff exits 1
// when there are differences.
func (b *bench) kubectlRun(args ...string) (string, int64, error) {
	cmd := exec.Command(b.kubectl, append([]string{"--kubeconfig", b.cluster.Kubeconfig, "-v=6"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+b.home, "KUBECTL_EXTERNAL_DIFF=diff -u")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && args[0] == "diff" && ee.ExitCode() == 1 {
		err = nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, lastLines(stderr.String()))
	}
	return stdout.String(), int64(strings.Count(stderr.String(), `"Response" verb=`)), nil
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

func median(xs []sample) sample {
	s := append([]sample(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i].wall < s[j].wall })
	return s[len(s)/2]
}

func (b *bench) report(runs, n int) {
	fmt.Printf("\n%d objects (%d Deployments, %d Services, %d ConfigMaps), %d runs, medians\n\n", 3*n, n, n, n, runs)
	fmt.Println("| scenario | tagrelay wall | kubectl wall | ratio | tagrelay requests | kubectl requests |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, name := range []string{"first sync (apply, no wait)", "wait for rollout (ours only)", "diff after an image change",
		"diff, cold (no fingerprints: every object dry-run)",
		"one-image-change sync (apply, no wait)", "no-change sync (incl. health check)"} {
		ours := median(b.results[name+"|tagrelay"])
		k, ok := b.results[name+"|kubectl"]
		if !ok {
			fmt.Printf("| %s | %s | – | – | %d | – |\n", name, ours.wall.Round(time.Millisecond), ours.requests)
			continue
		}
		theirs := median(k)
		fmt.Printf("| %s | %s | %s | %.2f× | %d | %d |\n", name, ours.wall.Round(time.Millisecond), theirs.wall.Round(time.Millisecond),
			ours.wall.Seconds()/theirs.wall.Seconds(), ours.requests, theirs.requests)
	}
}

var logger = slog.New(slog.DiscardHandler)

func init() {
	if os.Getenv("BENCH_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}
