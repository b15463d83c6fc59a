// Command reconcile-scale benchmarks tagrelay-reconciler serve at platform scale against real
// Flux (source-controller + kustomize-controller + notification-controller, internal/fluxtest)
// in the same run, on the local test cluster (internal/kubetest, kwok nodes) and one smart-HTTP
// git server (internal/gittest), with the same apps: each a Deployment of 1 replica, a Service
// and a ConfigMap, spread over repositories.
//
//	go run ./bench/reconcile-scale [-apps 200] [-repos 20] [-interval 30s] [-rounds 3] [-flux-timeout 25m]
//
// Per tool, measured from outside (an informer on the Deployments, /proc of the processes), each
// figure logged as soon as it is measured, then one Markdown table (tagrelay | Flux | ratio):
//   - first round: from start (tagrelay: process start; Flux: its objects applied to running
//     controllers) until every app's Deployment is Ready, with the peak RSS meanwhile. Flux's is
//     bounded by -flux-timeout: past it the run reports how many apps were Ready, stops Flux and
//     goes on with tagrelay alone;
//   - steady state over -rounds poll intervals with nothing to deploy: CPU seconds (utime+stime
//     of the processes, Flux's three controllers summed), per poll, and peak RSS;
//   - then polls are taken out of both tools, so that only the measured trigger deploys a commit:
//     tagrelay's serve restarts with --interval -1s (no polls; webhooks and triggers still run),
//     Flux's GitRepositories get spec.interval 24h (the run waits until source-controller has
//     reconciled that change on all of them). A suspended GitRepository would ignore
//     requestedAt, so suspend is not used;
//   - webhook to Ready: a commit changes one app's image, then the push webhook (tagrelay's
//     GitLab hook; Flux's generic Receiver for the repository's GitRepositories) until its
//     Deployment is Ready at the new image, -webhooks times, p50 and p99;
//   - concurrent triggers: -triggers apps get a new image (committed first), then one trigger
//     each, all at once (tagrelay: POST /api/v1/apps/NAME/sync; Flux: the
//     reconcile.fluxcd.io/requestedAt annotation on the GitRepository, then on the
//     Kustomization, what `flux reconcile ks --with-source` sets), p50/p99 from each app's
//     trigger to its Deployment Ready at the new image, and the wall time from the first
//     trigger to the last app Ready. A deploy seen before its trigger (a latency below zero)
//     fails the run: it would mean something other than the trigger deployed it;
//   - tagrelay only: two replicas with --shards N and serve's default lease timings; an app of
//     the second replica's shards (the replica that ran its no-op trigger, asked through the
//     first), a commit for it, the second replica SIGKILLed: the time until the first holds
//     every shard Lease (read from the cluster) and until the app is Ready at the commit.
//     Flux has no counterpart (its shards are static label selectors; a killed controller
//     waits for its Deployment to restart it).
//
// Both tools get the same concurrency (8 syncs: --max-concurrent-syncs, Flux's --concurrent)
// and poll every -interval. Flux's Kustomizations reconcile every hour on their own (they
// follow their GitRepository's artifact at once): with a short interval Flux would re-apply
// every app each time, work tagrelay's polls do not do.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tagrelay/tagrelay/internal/fluxtest"
	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/measure"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

const (
	trNS, fxNS, sysNS = "tr-apps", "fx-apps", "tr-system"
	hookSecret        = "bench-webhook-secret-0123456789"
	concurrency       = 8
	leaseName         = "tagrelay-reconciler" // serve's --lease-name default
)

// serve's default lease timings, passed explicitly so the report names what ran.
var defaultLease = reconcilertest.Lease{Duration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}

type bench struct {
	c        *kubetest.Cluster
	cs       kubernetes.Interface
	dyn      dynamic.Interface
	git      *gittest.Server
	dir      string
	binary   string
	apps     []string
	repoOf   map[string]string
	interval time.Duration
	ready    *readiness
	image    map[string]string // app → the image last committed
	mu       sync.Mutex
	load0    string // load average at the start
}

type config struct {
	rounds, hooks, triggers, shards int
	firstTimeout, fluxTimeout       time.Duration
	drift                           time.Duration
	skipFlux                        bool
}

func main() {
	nApps := flag.Int("apps", 200, "apps (each a Deployment, a Service and a ConfigMap)")
	nRepos := flag.Int("repos", 20, "repositories the apps are spread over")
	interval := flag.Duration("interval", 30*time.Second, "poll interval of both tools")
	var cfg config
	flag.IntVar(&cfg.rounds, "rounds", 3, "poll intervals the steady state is measured over")
	flag.IntVar(&cfg.hooks, "webhooks", 10, "webhook-to-Ready samples per tool")
	flag.IntVar(&cfg.triggers, "triggers", 50, "concurrent triggers")
	flag.IntVar(&cfg.shards, "shards", 4, "shards of the takeover phase (two replicas)")
	flag.DurationVar(&cfg.firstTimeout, "first-timeout", 20*time.Minute, "bound of tagrelay's first round")
	flag.DurationVar(&cfg.fluxTimeout, "flux-timeout", 25*time.Minute, "bound of Flux's first round: past it Flux's figures are how many apps were Ready, and the run goes on with tagrelay alone")
	flag.BoolVar(&cfg.skipFlux, "no-flux", false, "tagrelay alone (functional checks)")
	flag.DurationVar(&cfg.drift, "drift-interval", 10*time.Minute, "tagrelay's --drift-interval as shipped (serve's default); the steady state starts after its first round")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()
	b, err := setup(ctx, *nApps, *nRepos, *interval)
	if err != nil {
		log.Fatal(err)
	}
	err = b.run(ctx, cfg)
	b.c.Stop()
	_ = os.RemoveAll(b.dir)
	if err != nil {
		log.Fatal(err)
	}
}

func setup(ctx context.Context, nApps, nRepos int, interval time.Duration) (*bench, error) {
	dir, err := os.MkdirTemp("", "reconcile-scale-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, interval: interval, repoOf: map[string]string{}, image: map[string]string{}, load0: loadavg()}
	b.binary = filepath.Join(dir, "tagrelay-reconciler")
	log.Printf("building tagrelay-reconciler")
	if out, err := exec.Command("go", "build", "-o", b.binary, "./cmd/tagrelay-reconciler").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	log.Printf("starting the test cluster")
	if b.c, err = kubetest.Start(ctx, kubetest.Options{}); err != nil {
		return nil, err
	}
	rc := b.c.RESTConfig()
	rc.QPS, rc.Burst = 200, 400
	b.cs = kubernetes.NewForConfigOrDie(rc)
	b.dyn = dynamic.NewForConfigOrDie(rc)
	// kubetest's node takes 1,000 pods; both tools' apps and their rolling updates need more.
	if err := b.addNodes(ctx, (2*nApps+200)/1000); err != nil {
		return nil, err
	}
	for _, ns := range []string{trNS, fxNS, sysNS} {
		if _, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	if b.git, err = gittest.Start(); err != nil {
		return nil, err
	}
	files := make([]map[string]string, nRepos)
	for i := range nApps {
		name := fmt.Sprintf("app-%04d", i)
		r := fmt.Sprintf("repo-%03d", i%nRepos)
		b.apps = append(b.apps, name)
		b.repoOf[name] = r
		if files[i%nRepos] == nil {
			files[i%nRepos] = map[string]string{}
		}
		b.image[name] = "example.com/" + name + ":v1"
		for k, v := range appFiles(name, b.image[name]) {
			files[i%nRepos][k] = v
		}
	}
	for i := range nRepos {
		r := fmt.Sprintf("repo-%03d", i)
		if err := b.git.CreateRepo(r); err != nil {
			return nil, err
		}
		if _, err := b.git.Commit(r, "main", "apps", files[i]); err != nil {
			return nil, err
		}
	}
	b.ready = watchReady(ctx, b.cs)
	return b, nil
}

// addNodes registers n more simulated nodes of 1,000 pods each, managed by the cluster's kwok
// (its annotation selector), and waits until kwok marks them Ready.
func (b *bench) addNodes(ctx context.Context, n int) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("1000"),
	}
	for i := range n {
		name := fmt.Sprintf("kwok-bench-%d", i+1)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
			Status: corev1.NodeStatus{Allocatable: capacity, Capacity: capacity},
		}
		if _, err := b.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("registering node %s: %w", name, err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			got, err := b.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && nodeReady(got) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s not Ready after 1m", name)
			}
		}
	}
	if n > 0 {
		log.Printf("%d more kwok nodes of 1,000 pods", n)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// appFiles are the files of one app: a Deployment of 1 replica, a Service and a ConfigMap.
func appFiles(name, image string) map[string]string {
	return map[string]string{
		"apps/" + name + "/deployment.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: app, image: %[2]q}]}
`, name, image),
		"apps/" + name + "/service.yaml":   fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %[1]s}\nspec: {selector: {app: %[1]s}, ports: [{port: 80}]}\n", name),
		"apps/" + name + "/configmap.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: v}\n", name),
	}
}

// readiness records when each Deployment was first seen Ready at an image.
type readiness struct {
	mu    sync.Mutex
	first map[string]time.Time // ns/name/image
}

func watchReady(ctx context.Context, cs kubernetes.Interface) *readiness {
	r := &readiness{first: map[string]time.Time{}}
	f := informers.NewSharedInformerFactory(cs, 0)
	inf := f.Apps().V1().Deployments().Informer()
	seen := func(obj any) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok || len(d.Spec.Template.Spec.Containers) == 0 {
			return
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.AvailableReplicas != want || st.Replicas != want {
			return
		}
		key := d.Namespace + "/" + d.Name + "/" + d.Spec.Template.Spec.Containers[0].Image
		r.mu.Lock()
		if _, ok := r.first[key]; !ok {
			r.first[key] = time.Now()
		}
		r.mu.Unlock()
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, o any) { seen(o) }})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return r
}

// wait returns when every app of names is Ready in ns at its image, with the time each got
// there.
func (b *bench) wait(ns string, names []string, timeout time.Duration) ([]time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		var at []time.Time
		missing := ""
		b.ready.mu.Lock()
		for _, n := range names {
			t, ok := b.ready.first[ns+"/"+n+"/"+b.imageOf(n)]
			if !ok {
				missing = n
				break
			}
			at = append(at, t)
		}
		b.ready.mu.Unlock()
		if missing == "" {
			return at, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s/%s not Ready at %s after %s", ns, missing, b.imageOf(missing), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bench) imageOf(app string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.image[app]
}

// bump commits a new image for apps (one commit per repository).
func (b *bench) bump(apps []string, tag string) error {
	byRepo := map[string]map[string]string{}
	b.mu.Lock()
	for _, a := range apps {
		r := b.repoOf[a]
		if byRepo[r] == nil {
			byRepo[r] = map[string]string{}
		}
		b.image[a] = "example.com/" + a + ":" + tag
		for k, v := range appFiles(a, b.image[a]) {
			byRepo[r][k] = v
		}
	}
	b.mu.Unlock()
	for r, files := range byRepo {
		if _, err := b.git.Commit(r, "main", "bump "+tag, files); err != nil {
			return err
		}
	}
	return nil
}

// results of one tool.
type results struct {
	firstRound      time.Duration
	firstNote       string  // set when the first round did not finish: "not Ready after …, N/M apps Ready"
	firstRSS        int64   // peak during the first round
	cpu             float64 // polls only (tagrelay: --drift-interval -1s)
	cpuRounds       int     // poll intervals cpu was measured over; 0: not measured
	cpuShipped      float64 // tagrelay as shipped: polls and drift checks
	shippedWindow   time.Duration
	rss             int64 // peak, steady state
	hooks, triggers []time.Duration
	triggersWall    time.Duration
	// takeover (tagrelay only)
	holdAll, synced time.Duration
}

func (b *bench) run(ctx context.Context, cfg config) error {
	var tr, fx results
	flux := !cfg.skipFlux
	defer func() { b.report(cfg, tr, fx, flux) }() // whatever was measured, also on a failure

	// tagrelay: first round from process start.
	apps, err := b.appsConfig()
	if err != nil {
		return err
	}
	secretFile := filepath.Join(b.dir, "hook-secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret), 0o600); err != nil {
		return err
	}
	trDir := filepath.Join(b.dir, "tagrelay")
	serve := func(dir string, interval time.Duration, args ...string) (*reconcilertest.Server, error) {
		return reconcilertest.Start(ctx, reconcilertest.Options{Binary: b.binary, Config: apps, Kubeconfig: b.c.Kubeconfig,
			Namespace: sysNS, Dir: dir, Interval: interval, StartTimeout: 5 * time.Minute,
			Args: append([]string{"--gitlab-webhook-secret-file", secretFile, "--max-concurrent-syncs", strconv.Itoa(concurrency)}, args...)})
	}
	sharedCache := func(from, name string) string { // a new serve's directory, with from's git cache
		dir := filepath.Join(b.dir, name)
		if err := os.MkdirAll(dir, 0o700); err == nil {
			_ = os.Symlink(filepath.Join(from, "cache"), filepath.Join(dir, "cache"))
		}
		return dir
	}
	log.Printf("tagrelay: first round of %d apps (load %s)", len(b.apps), loadavg())
	start := time.Now()
	trStart := start
	srv, err := serve(trDir, b.interval, "--drift-interval", cfg.drift.String())
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	stopPeak := peakRSS([]int{srv.Pid()})
	_, err = b.waitProgress("tagrelay", trNS, b.apps, cfg.firstTimeout)
	tr.firstRSS = stopPeak()
	if err != nil {
		return err
	}
	tr.firstRound = time.Since(start)
	log.Printf("FIGURE tagrelay first round Ready: %s (peak RSS %s)", tr.firstRound.Round(time.Millisecond), measure.MiB(tr.firstRSS))

	// Flux: first round from its objects applied to the running controllers.
	var fl *fluxtest.Flux
	var hookURL map[string]string
	if flux {
		log.Printf("starting Flux")
		fl, err = fluxtest.Start(ctx, b.c, fluxtest.Options{Notification: true, Args: map[string][]string{
			fluxtest.SourceController:    {fmt.Sprintf("--concurrent=%d", concurrency)},
			fluxtest.KustomizeController: {fmt.Sprintf("--concurrent=%d", concurrency)},
		}})
		if err != nil {
			return err
		}
		defer func() { _ = fl.Stop() }()
		log.Printf("flux: first round of %d apps (bound %s, load %s)", len(b.apps), cfg.fluxTimeout, loadavg())
		start = time.Now()
		if err := fl.Apply(ctx, b.fluxObjects()...); err != nil {
			return err
		}
		stopPeak := peakRSS(pids(fl))
		n, err := b.waitProgress("flux", fxNS, b.apps, cfg.fluxTimeout)
		fx.firstRSS = stopPeak()
		if err != nil {
			fx.firstNote = fmt.Sprintf("not Ready after %s: %d/%d apps Ready", cfg.fluxTimeout, n, len(b.apps))
			log.Printf("FIGURE flux first round: %s (peak RSS %s); Flux stopped, tagrelay goes on alone", fx.firstNote, measure.MiB(fx.firstRSS))
			_ = fl.Stop()
			flux = false
		} else {
			fx.firstRound = time.Since(start)
			log.Printf("FIGURE flux first round Ready: %s (peak RSS %s)", fx.firstRound.Round(time.Millisecond), measure.MiB(fx.firstRSS))
			if hookURL, err = b.receiverPath(ctx); err != nil {
				return err
			}
		}
	}

	// Steady state: both idle side by side over the same window, tagrelay as shipped (its drift
	// check dry-runs every app once per --drift-interval, 10m by default, and from the second
	// round on skips the dry run of an app found in sync whose objects and commit did not
	// change; a full check every 6 rounds). The window starts once tagrelay's first drift
	// round is over (its /metrics count a check per app; Flux's first round usually takes
	// longer than that).
	log.Printf("waiting for tagrelay's first drift round (every app checked once)")
	for deadline := trStart.Add(3 * cfg.drift); ; time.Sleep(5 * time.Second) {
		n, err := driftChecks(srv)
		if err != nil {
			return err
		}
		if n >= float64(len(b.apps)) {
			log.Printf("tagrelay's first drift round is over: %.0f checks, %s after its start", n, time.Since(trStart).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tagrelay's first drift round is not over %s after its start: %.0f checks of %d apps", 3*cfg.drift, n, len(b.apps))
		}
	}
	log.Printf("steady state over %d intervals of %s (load %s)", cfg.rounds, b.interval, loadavg())
	time.Sleep(b.interval) // let the last syncs and Flux's first checks settle
	trPids := []int{srv.Pid()}
	var fxPids []int
	if flux {
		fxPids = pids(fl)
	}
	window := time.Duration(cfg.rounds) * b.interval
	trCPU0, fxCPU0 := cpuSeconds(trPids), cpuSeconds(fxPids)
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(2 * time.Second) {
		tr.rss = max(tr.rss, rss(trPids))
		fx.rss = max(fx.rss, rss(fxPids))
	}
	tr.cpuShipped, fx.cpu = cpuSeconds(trPids)-trCPU0, cpuSeconds(fxPids)-fxCPU0
	tr.shippedWindow = window
	log.Printf("FIGURE tagrelay steady state as shipped (polls + drift checks every %s): CPU %.2f s over %s (%.2f %% of a core), peak RSS %s",
		cfg.drift, tr.cpuShipped, window, tr.cpuShipped/window.Seconds()*100, measure.MiB(tr.rss))
	if flux {
		fx.cpuRounds = cfg.rounds
		log.Printf("FIGURE flux steady state (polls; its Kustomizations are not due within the hour): CPU %.2f s over %d polls (%.3f s per poll), peak RSS %s",
			fx.cpu, cfg.rounds, fx.cpu/float64(cfg.rounds), measure.MiB(fx.rss))
		if err := fl.Exited(); err != nil {
			return err
		}
	}

	// Polls only: tagrelay again with --drift-interval -1s, like for like with Flux's window
	// (whose Kustomizations, the drift correction, are not due within the hour).
	log.Printf("tagrelay restarts with --drift-interval -1s: the cost of polls alone")
	if err := srv.Stop(); err != nil {
		log.Printf("tagrelay stop: %v", err)
	}
	if srv, err = serve(sharedCache(trDir, "tagrelay-polls"), b.interval, "--drift-interval", "-1s"); err != nil {
		return err
	}
	trPids = []int{srv.Pid()}
	// the start reads every app's tree once (the console's health): wait until that is over,
	// i.e. until the process uses less than a tenth of a core over 10 s (at most 5 minutes)
	time.Sleep(b.interval)
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		c0 := cpuSeconds(trPids)
		time.Sleep(10 * time.Second)
		if cpuSeconds(trPids)-c0 < 1 {
			break
		}
	}
	trCPU0 = cpuSeconds(trPids)
	time.Sleep(window)
	tr.cpu, tr.cpuRounds = cpuSeconds(trPids)-trCPU0, cfg.rounds
	log.Printf("FIGURE tagrelay steady state, polls only: CPU %.2f s over %d polls (%.3f s per poll)", tr.cpu, cfg.rounds, tr.cpu/float64(cfg.rounds))

	// Polls out of both tools: only the measured webhooks and triggers deploy from here on.
	log.Printf("taking polls out: tagrelay restarts with --interval -1s, Flux's GitRepositories get interval 24h")
	if err := srv.Stop(); err != nil {
		log.Printf("tagrelay stop: %v", err)
	}
	if srv, err = serve(sharedCache(trDir, "tagrelay-quiet"), -time.Second); err != nil {
		return err
	}
	if flux {
		if err := b.fluxQuiet(ctx, 24*time.Hour); err != nil {
			return err
		}
	}

	// Webhook to Ready, one app at a time.
	log.Printf("webhook to Ready, %d samples each (load %s)", cfg.hooks, loadavg())
	for i := range cfg.hooks {
		app := b.apps[(i*7)%len(b.apps)]
		if err := b.bump([]string{app}, fmt.Sprintf("h%d", i)); err != nil {
			return err
		}
		d, _, err := b.timed(trNS, []string{app}, func(string) error { return b.gitlabHook(srv.URL, b.repoOf[app]) })
		if err != nil {
			return fmt.Errorf("tagrelay webhook: %w", err)
		}
		tr.hooks = append(tr.hooks, d...)
		if !flux {
			continue
		}
		d, _, err = b.timed(fxNS, []string{app}, func(string) error { return b.fluxHook(fl.ReceiverURL + hookURL[b.repoOf[app]]) })
		if err != nil {
			return fmt.Errorf("flux webhook: %w", err)
		}
		fx.hooks = append(fx.hooks, d...)
	}
	log.Printf("FIGURE webhook to Ready p50/p99 (%d samples): tagrelay %s/%s, Flux %s/%s", len(tr.hooks), dur(percentile(tr.hooks, .5)), dur(percentile(tr.hooks, .99)),
		dur(percentile(fx.hooks, .5)), dur(percentile(fx.hooks, .99)))

	// Concurrent triggers: the new images committed first, then every trigger at once.
	some := b.apps[:min(cfg.triggers, len(b.apps))]
	if err := b.bump(some, "t1"); err != nil {
		return err
	}
	log.Printf("%d concurrent triggers (load %s)", len(some), loadavg())
	client := srv.Client()
	tr.triggers, tr.triggersWall, err = b.timed(trNS, some, func(app string) error {
		_, err := client.Sync(ctx, app, api.SyncRequest{})
		return err
	})
	if err != nil {
		return fmt.Errorf("tagrelay triggers: %w", err)
	}
	log.Printf("FIGURE tagrelay %d concurrent triggers: p50 %s, p99 %s, all Ready %s after the first", len(some),
		dur(percentile(tr.triggers, .5)), dur(percentile(tr.triggers, .99)), dur(tr.triggersWall))
	if flux {
		fx.triggers, fx.triggersWall, err = b.timed(fxNS, some, func(app string) error {
			patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, time.Now().Format(time.RFC3339Nano))
			if _, err := b.dyn.Resource(gitRepoGVR).Namespace(fxNS).Patch(ctx, app, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return err
			}
			_, err := b.dyn.Resource(kustomizationGVR).Namespace(fxNS).Patch(ctx, app, types.MergePatchType, patch, metav1.PatchOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("flux triggers: %w", err)
		}
		log.Printf("FIGURE flux %d concurrent triggers: p50 %s, p99 %s, all Ready %s after the first", len(some),
			dur(percentile(fx.triggers, .5)), dur(percentile(fx.triggers, .99)), dur(fx.triggersWall))
		_ = fl.Stop()
	}
	_ = srv.Stop()

	tr.holdAll, tr.synced, err = b.takeover(ctx, apps, cfg.shards)
	if err != nil {
		return fmt.Errorf("shard takeover: %w", err)
	}
	return nil
}

func pids(fl *fluxtest.Flux) []int {
	var out []int
	for _, p := range fl.Processes() {
		out = append(out, p.Pid())
	}
	return out
}

// peakRSS samples the processes' RSS every second until the returned func is called, which
// returns the peak.
func peakRSS(pids []int) func() int64 {
	var mu sync.Mutex
	var peak int64
	done := make(chan struct{})
	go func() {
		for {
			v := rss(pids)
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return func() int64 {
		close(done)
		v := rss(pids)
		mu.Lock()
		defer mu.Unlock()
		return max(peak, v)
	}
}

// waitProgress is wait with a progress line every minute; it returns how many apps were Ready.
func (b *bench) waitProgress(tool, ns string, names []string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		step := min(time.Minute, time.Until(deadline))
		_, err := b.wait(ns, names, step)
		n := b.readyCount(ns, names)
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, err
		}
		log.Printf("%s: %d/%d apps Ready (load %s)", tool, n, len(names), loadavg())
	}
}

func (b *bench) readyCount(ns string, names []string) int {
	n := 0
	b.ready.mu.Lock()
	defer b.ready.mu.Unlock()
	for _, a := range names {
		if _, ok := b.ready.first[ns+"/"+a+"/"+b.imageOf(a)]; ok {
			n++
		}
	}
	return n
}

// fluxQuiet sets every GitRepository's interval and waits until source-controller reconciled
// the change on all of them (observedGeneration, Ready): the spec change itself is a
// reconcile, which must be over before the measured triggers.
func (b *bench) fluxQuiet(ctx context.Context, interval time.Duration) error {
	patch := fmt.Appendf(nil, `{"spec":{"interval":%q}}`, interval.String())
	if err := parallelN(b.apps, 16, func(app string) error {
		_, err := b.dyn.Resource(gitRepoGVR).Namespace(fxNS).Patch(ctx, app, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	}); err != nil {
		return err
	}
	start := time.Now()
	for deadline := start.Add(15 * time.Minute); ; time.Sleep(2 * time.Second) {
		list, err := b.dyn.Resource(gitRepoGVR).Namespace(fxNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		settled := 0
		for _, g := range list.Items {
			og, _, _ := unstructured.NestedInt64(g.Object, "status", "observedGeneration")
			if og == g.GetGeneration() && conditionTrue(g, "Ready") {
				settled++
			}
		}
		if settled == len(b.apps) {
			log.Printf("flux: %d GitRepositories at interval %s, reconciled in %s", settled, interval, dur(time.Since(start)))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flux: %d/%d GitRepositories reconciled their new interval after 15m", settled, len(b.apps))
		}
	}
}

func conditionTrue(u unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func dur(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

// timed sends fire for each app, all at once, and returns, per app, the time from its fire to
// its Deployment Ready at its new image, and the wall time from the first fire to the last app
// Ready. A Deployment Ready at the new image before its fire fails: something other than the
// fire deployed it (a poll), and the figure would be a lie.
func (b *bench) timed(ns string, apps []string, fire func(app string) error) ([]time.Duration, time.Duration, error) {
	sent := make(map[string]time.Time, len(apps))
	var mu sync.Mutex
	first := time.Now()
	err := parallelN(apps, len(apps), func(app string) error {
		now := time.Now()
		mu.Lock()
		sent[app] = now
		mu.Unlock()
		return fire(app)
	})
	if err != nil {
		return nil, 0, err
	}
	at, err := b.wait(ns, apps, 5*time.Minute)
	if err != nil {
		return nil, 0, err
	}
	out := make([]time.Duration, len(at))
	var last time.Time
	for i, t := range at {
		out[i] = t.Sub(sent[apps[i]])
		if out[i] < 0 {
			return nil, 0, fmt.Errorf("%s/%s was Ready at %s %s BEFORE its trigger: a negative latency, something else (a poll) deployed it",
				ns, apps[i], b.imageOf(apps[i]), dur(-out[i]))
		}
		if t.After(last) {
			last = t
		}
	}
	return out, last.Sub(first), nil
}

// parallelN runs f on every item, n at a time, and returns the first error.
func parallelN(items []string, n int, f func(string) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(n, 1))
	errs := make(chan error, len(items))
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(it); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// appsConfig writes tagrelay's apps file: the same apps, in trNS.
func (b *bench) appsConfig() (string, error) {
	var sb strings.Builder
	sb.WriteString("apps:\n")
	for _, a := range b.apps {
		fmt.Fprintf(&sb, "- {name: %s, repo: %s, path: apps/%s, namespace: %s, sharedNamespace: true, timeout: 2m}\n",
			a, b.git.RepoURL(b.repoOf[a]), a, trNS)
	}
	p := filepath.Join(b.dir, "apps.yaml")
	return p, os.WriteFile(p, []byte(sb.String()), 0o600)
}

var (
	gitRepoGVR       = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	kustomizationGVR = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	receiverGVR      = schema.GroupVersionResource{Group: "notification.toolkit.fluxcd.io", Version: "v1", Resource: "receivers"}
)

// fluxObjects are, per app, a GitRepository (labelled with its repository) and a Kustomization
// in fxNS; per repository, a generic Receiver of its GitRepositories; and the Receivers' secret.
func (b *bench) fluxObjects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	out = append(out, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "hook", "namespace": fxNS},
		"stringData": map[string]any{"token": hookSecret}}})
	repos := map[string]bool{}
	for _, a := range b.apps {
		g := fluxtest.GitRepository(fxNS, a, b.git.RepoURL(b.repoOf[a]), "main", b.interval)
		g.SetLabels(map[string]string{"repo": b.repoOf[a]})
		out = append(out, g, fluxtest.Kustomization(fxNS, a, a, "apps/"+a, time.Hour))
		repos[b.repoOf[a]] = true
	}
	for r := range repos {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
			"metadata": map[string]any{"name": r, "namespace": fxNS},
			"spec": map[string]any{"type": "generic", "secretRef": map[string]any{"name": "hook"},
				"resources": []any{map[string]any{"apiVersion": fluxtest.SourceAPIVersion, "kind": "GitRepository", "name": "*",
					"matchLabels": map[string]any{"repo": r}}}},
		}})
	}
	return out
}

// receiverPath returns each repository's Receiver webhook path once they are ready.
func (b *bench) receiverPath(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := b.dyn.Resource(receiverGVR).Namespace(fxNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, r := range list.Items {
			if p, _, _ := unstructured.NestedString(r.Object, "status", "webhookPath"); p != "" {
				out[r.GetName()] = p
			}
		}
		if len(list.Items) > 0 && len(out) == len(list.Items) {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("receivers without a webhook path after 2m: %d of %d ready", len(out), len(list.Items))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// gitlabHook sends tagrelay a GitLab push event of repo.
func (b *bench) gitlabHook(url, repo string) error {
	body, _ := json.Marshal(map[string]any{"object_kind": "push", "ref": "refs/heads/main",
		"project": map[string]any{"git_http_url": b.git.RepoURL(repo)}})
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/webhooks/gitlab", bytes.NewReader(body))
	req.Header.Set("X-Gitlab-Token", hookSecret)
	req.Header.Set("X-Gitlab-Event", "Push Hook")
	req.Header.Set("Content-Type", "application/json")
	return send(req)
}

// fluxHook calls a generic Receiver.
func (b *bench) fluxHook(url string) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	return send(req)
}

func send(req *http.Request) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	return nil
}

// takeover runs two replicas with --shards n and serve's default lease timings, finds an app
// of the second replica's shards (the replica that answers its no-op trigger sent through the
// first: the API routes a trigger to the shard's owner and names it in the result), commits a
// new image for it and SIGKILLs the second replica. It returns the time from the kill until the
// first holds every shard Lease (read from the cluster) and until the app is Ready at the commit.
func (b *bench) takeover(ctx context.Context, apps string, n int) (holdAll, synced time.Duration, err error) {
	l := defaultLease
	log.Printf("shard takeover: two replicas, %d shards, lease duration %s, renew deadline %s, retry period %s (load %s)",
		n, l.Duration, l.RenewDeadline, l.RetryPeriod, loadavg())
	start := func(name string) (*reconcilertest.Server, error) {
		return reconcilertest.Start(ctx, reconcilertest.Options{Binary: b.binary, Config: apps, Kubeconfig: b.c.Kubeconfig,
			Namespace: sysNS, Dir: filepath.Join(b.dir, name), Interval: b.interval, LeaderElection: &l, StartTimeout: 5 * time.Minute,
			Token: "bench-replicas-token-0123456789", // the same on both: a request routed to the owner carries it
			Args:  []string{"--shards", strconv.Itoa(n), "--max-concurrent-syncs", strconv.Itoa(concurrency)}})
	}
	r1, err := start("r1")
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = r1.Stop() }()
	r2, err := start("r2")
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = r2.Stop() }()
	count := func(h []string, id string) int {
		c := 0
		for _, x := range h {
			if x == id {
				c++
			}
		}
		return c
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		h := b.leaseHolders(ctx, n)
		if count(h, r1.Identity) == n/2 && count(h, r2.Identity) == n-n/2 || count(h, r2.Identity) == n/2 && count(h, r1.Identity) == n-n/2 {
			log.Printf("shard Leases split: %s holds %d, %s holds %d", r1.Identity, count(h, r1.Identity), r2.Identity, count(h, r2.Identity))
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the replicas did not split the shard Leases in 3m: holders %q", h)
		}
	}
	// One app per repository (apps are sharded by repository) until one runs on r2.
	var app string
	seen := map[string]bool{}
	for _, a := range b.apps {
		if seen[b.repoOf[a]] {
			continue
		}
		seen[b.repoOf[a]] = true
		res, err := r1.Client().Sync(ctx, a, api.SyncRequest{Wait: true})
		if err != nil {
			return 0, 0, fmt.Errorf("no-op trigger of %s through %s: %w", a, r1.Identity, err)
		}
		if res.Replica == r2.Identity {
			app = a
			break
		}
	}
	if app == "" {
		return 0, 0, fmt.Errorf("no app's trigger ran on %s", r2.Identity)
	}
	log.Printf("%s (repository %s) is on a shard of %s", app, b.repoOf[app], r2.Identity)
	if err := b.bump([]string{app}, "k1"); err != nil {
		return 0, 0, err
	}
	killed := time.Now()
	r2.Kill()
	for deadline := time.Now().Add(3 * time.Minute); count(b.leaseHolders(ctx, n), r1.Identity) != n; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%s did not take every shard Lease in 3m: holders %q", r1.Identity, b.leaseHolders(ctx, n))
		}
	}
	holdAll = time.Since(killed)
	log.Printf("FIGURE takeover: %s holds all %d shard Leases %s after the SIGKILL (lease %s)", r1.Identity, n, dur(holdAll), l.Duration)
	at, err := b.wait(trNS, []string{app}, 3*time.Minute)
	if err != nil {
		return holdAll, 0, err
	}
	if at[0].Before(killed) {
		return holdAll, 0, fmt.Errorf("%s was Ready at its new image before the kill: the killed replica deployed it", app)
	}
	synced = at[0].Sub(killed)
	log.Printf("FIGURE takeover: %s Ready at its new image %s after the SIGKILL", app, dur(synced))
	return holdAll, synced, nil
}

// leaseHolders returns the holder of each shard Lease ("" when none or unreadable).
func (b *bench) leaseHolders(ctx context.Context, n int) []string {
	out := make([]string, n)
	for i := range n {
		l, err := b.cs.CoordinationV1().Leases(sysNS).Get(ctx, fmt.Sprintf("%s-shard-%d", leaseName, i), metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil {
			out[i] = *l.Spec.HolderIdentity
		}
	}
	return out
}

// cpuSeconds sums utime+stime of processes (clock ticks of 10 ms).
// driftChecks is the number of drift checks the server made so far (every result), from its
// /metrics.
func driftChecks(srv *reconcilertest.Server) (float64, error) {
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	n := 0.0
	if mf := families["tagrelay_reconciler_drift_checks_total"]; mf != nil {
		for _, m := range mf.GetMetric() {
			n += m.GetCounter().GetValue()
		}
	}
	return n, nil
}

func cpuSeconds(pids []int) float64 {
	total := 0.0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		total += (u + k) / 100
	}
	return total
}

// rss sums VmRSS of processes.
func rss(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// report prints the figures measured so far as one Markdown table, then the targets.
func (b *bench) report(cfg config, tr, fx results, flux bool) {
	secs := func(d time.Duration) float64 { return d.Seconds() }
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	cell := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return dur(d)
	}
	mib := func(v int64) string {
		if v == 0 {
			return "-"
		}
		return measure.MiB(v)
	}
	perPoll := func(r results) float64 {
		if r.cpuRounds == 0 {
			return 0
		}
		return r.cpu / float64(r.cpuRounds)
	}
	cpuCell := func(r results, f string, scale float64) string {
		if r.cpuRounds == 0 {
			return "-"
		}
		return fmt.Sprintf(f, perPoll(r)*scale)
	}
	shipped := func(r results) string {
		if r.shippedWindow == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f %%", r.cpuShipped/r.shippedWindow.Seconds()*100)
	}
	fxFirst := cell(fx.firstRound)
	if fx.firstNote != "" {
		fxFirst = fx.firstNote
	}
	p := func(ds []time.Duration, q float64) time.Duration { return percentile(ds, q) }
	nt := len(tr.triggers)
	rows := [][]string{
		{"first full round Ready", cell(tr.firstRound), fxFirst, ratio(secs(tr.firstRound), secs(fx.firstRound))},
		{"peak RSS during the first round", mib(tr.firstRSS), mib(fx.firstRSS), ratio(float64(tr.firstRSS), float64(fx.firstRSS))},
		{fmt.Sprintf("steady-state CPU per poll of all %d apps", len(b.apps)), cpuCell(tr, "%.3f s", 1), cpuCell(fx, "%.3f s", 1), ratio(perPoll(tr), perPoll(fx))},
		{"… as share of one core at a 3-minute interval", cpuCell(tr, "%.3f %%", 100.0/180), cpuCell(fx, "%.3f %%", 100.0/180), ratio(perPoll(tr), perPoll(fx))},
		{fmt.Sprintf("tagrelay as shipped (polls + a drift check of every app every %s): share of one core", cfg.drift), shipped(tr), "-", "-"},
		{"peak RSS, steady state", mib(tr.rss), mib(fx.rss), ratio(float64(tr.rss), float64(fx.rss))},
		{fmt.Sprintf("webhook to Ready p50 (%d samples, polls off)", len(tr.hooks)), cell(p(tr.hooks, .5)), cell(p(fx.hooks, .5)), ratio(secs(p(tr.hooks, .5)), secs(p(fx.hooks, .5)))},
		{"webhook to Ready p99", cell(p(tr.hooks, .99)), cell(p(fx.hooks, .99)), ratio(secs(p(tr.hooks, .99)), secs(p(fx.hooks, .99)))},
		{fmt.Sprintf("%d concurrent triggers, trigger to Ready p50 (polls off)", nt), cell(p(tr.triggers, .5)), cell(p(fx.triggers, .5)), ratio(secs(p(tr.triggers, .5)), secs(p(fx.triggers, .5)))},
		{fmt.Sprintf("%d concurrent triggers p99", nt), cell(p(tr.triggers, .99)), cell(p(fx.triggers, .99)), ratio(secs(p(tr.triggers, .99)), secs(p(fx.triggers, .99)))},
		{fmt.Sprintf("%d concurrent triggers, first trigger to all Ready", nt), cell(tr.triggersWall), cell(fx.triggersWall), ratio(secs(tr.triggersWall), secs(fx.triggersWall))},
		{fmt.Sprintf("SIGKILLed replica (of 2, %d shards, lease %s/%s/%s): survivor holds all shard Leases", cfg.shards, defaultLease.Duration, defaultLease.RenewDeadline, defaultLease.RetryPeriod), cell(tr.holdAll), "n/a", "-"},
		{"SIGKILLed replica: its app Ready at the commit made before the kill", cell(tr.synced), "n/a", "-"},
	}
	fmt.Printf("\n%d apps over %d repositories, poll interval %s, %d-way concurrency, same cluster and git server; load average %s at the start, %s now\n\n",
		len(b.apps), len(uniq(b.repoOf)), b.interval, concurrency, b.load0, loadavg())
	fmt.Printf("| metric | tagrelay | Flux | ratio |\n| --- | ---: | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("\nTargets of issue 12 (at %d apps):\n", len(b.apps))
	if peak := max(tr.firstRSS, tr.rss); peak > 0 {
		fmt.Printf("- RSS ≤ 256 MiB with 1,000 apps: peak %s — %s\n", measure.MiB(peak), met(peak <= 256<<20))
	}
	if tr.cpuRounds > 0 {
		share := perPoll(tr) / 180 * 100
		fmt.Printf("- steady state ≤ 2 %% of one core at a 3-minute interval: polls alone %.3f %% — %s\n", share, met(share <= 2))
	}
	if tr.shippedWindow > 0 {
		// polls at a 3-minute interval plus the drift checks' rate as measured (their rate does not depend on the poll interval)
		share := perPoll(tr)/180*100 + max(tr.cpuShipped/tr.shippedWindow.Seconds()*100-perPoll(tr)/b.interval.Seconds()*100, 0)
		fmt.Printf("  as shipped (drift checks every %s on): about %.2f %% — %s\n", cfg.drift, share, met(share <= 2))
	}
	if len(tr.hooks) > 0 {
		fmt.Printf("- webhook to Ready p50 ≤ 2 s: %s — %s\n", dur(p(tr.hooks, .5)), met(p(tr.hooks, .5) <= 2*time.Second))
	}
	n, under := 0, 0
	for _, r := range rows {
		if v, ok := strings.CutSuffix(r[3], "×"); ok {
			n++
			if f, err := strconv.ParseFloat(v, 64); err == nil && f <= 0.5 {
				under++
			}
		}
	}
	if n > 0 {
		fmt.Printf("- every figure ≤ 0.5× Flux's: %d of %d compared figures — %s\n", under, n, met(under == n))
	}
	if !flux && fx.firstNote == "" {
		fmt.Printf("- Flux was not run (-no-flux)\n")
	}
}

func uniq(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}
