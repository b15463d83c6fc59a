// Command reconcile-scale benchmarks tagrelay-reconciler serve at platform scale against real
// Flux (source-controller + kustomize-controller + notification-controller, internal/fluxtest)
// in the same run, on the local test cluster (internal/kubetest, kwok nodes) and one smart-HTTP
// git server (internal/gittest), with the same apps: each a Deployment of 1 replica, a Service
// and a ConfigMap, spread over repositories.
//
//	go run ./bench/reconcile-scale [-apps 200] [-repos 20] [-interval 30s] [-rounds 3]
//
// Per tool, measured from outside (an informer on the Deployments, /proc of the processes):
//   - first round: from start (tagrelay: process start; Flux: its objects applied to running
//     controllers) until every app's Deployment is Ready;
//   - steady state over -rounds poll intervals with nothing to deploy: CPU seconds (utime+stime
//     of the processes, Flux's three controllers summed), per poll, and peak RSS;
//   - webhook to Ready: a commit changes one app's image, then the push webhook (tagrelay's
//     GitLab hook; Flux's generic Receiver for the repository's GitRepositories) until its
//     Deployment is Ready at the new image, -webhooks times, p50 and p99 (= the max below 100);
//   - 50 concurrent triggers: 50 apps get a new image, then 50 triggers at once (tagrelay: POST
//     /api/v1/apps/NAME/sync; Flux: the reconcile.fluxcd.io/requestedAt annotation, what `flux
//     reconcile source git` sets), p50/p99 of trigger to Ready;
//   - tagrelay only: two replicas with --shards 4; a commit for an app of one replica's shard,
//     that replica SIGKILLed: time until the other holds all shards and until the app is Ready
//     at the commit. Flux has no counterpart (its shards are static label selectors; a killed
//     controller waits for its Deployment to restart it).
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

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
)

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
}

func main() {
	nApps := flag.Int("apps", 200, "apps (each a Deployment, a Service and a ConfigMap)")
	nRepos := flag.Int("repos", 20, "repositories the apps are spread over")
	interval := flag.Duration("interval", 30*time.Second, "poll interval of both tools")
	rounds := flag.Int("rounds", 3, "poll intervals the steady state is measured over")
	hooks := flag.Int("webhooks", 10, "webhook-to-Ready samples per tool")
	triggers := flag.Int("triggers", 50, "concurrent triggers")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()
	b, err := setup(ctx, *nApps, *nRepos, *interval)
	if err != nil {
		log.Fatal(err)
	}
	defer b.c.Stop()
	defer os.RemoveAll(b.dir)
	if err := b.run(ctx, *rounds, *hooks, *triggers); err != nil {
		b.c.Stop()
		log.Fatal(err)
	}
}

func setup(ctx context.Context, nApps, nRepos int, interval time.Duration) (*bench, error) {
	dir, err := os.MkdirTemp("", "reconcile-scale-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, interval: interval, repoOf: map[string]string{}, image: map[string]string{}}
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
	cpu             float64 // seconds over the steady-state window
	rss             int64   // peak
	hooks, triggers []time.Duration
}

func (b *bench) run(ctx context.Context, rounds, hooks, triggers int) error {
	var tr, fx results

	// tagrelay: first round from process start.
	cfg, err := b.appsConfig()
	if err != nil {
		return err
	}
	secretFile := filepath.Join(b.dir, "hook-secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret), 0o600); err != nil {
		return err
	}
	log.Printf("tagrelay: first round of %d apps", len(b.apps))
	start := time.Now()
	srv, err := reconcilertest.Start(ctx, reconcilertest.Options{Binary: b.binary, Config: cfg, Kubeconfig: b.c.Kubeconfig,
		Namespace: sysNS, Dir: filepath.Join(b.dir, "tagrelay"), Interval: b.interval,
		Args: []string{"--gitlab-webhook-secret-file", secretFile, "--max-concurrent-syncs", strconv.Itoa(concurrency)}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	if _, err := b.wait(trNS, b.apps, 15*time.Minute); err != nil {
		return err
	}
	tr.firstRound = time.Since(start)
	log.Printf("tagrelay: first round %s", tr.firstRound.Round(time.Millisecond))

	// Flux: first round from its objects applied to the running controllers.
	log.Printf("starting Flux")
	fl, err := fluxtest.Start(ctx, b.c, fluxtest.Options{Notification: true, Args: map[string][]string{
		fluxtest.SourceController:    {fmt.Sprintf("--concurrent=%d", concurrency)},
		fluxtest.KustomizeController: {fmt.Sprintf("--concurrent=%d", concurrency)},
	}})
	if err != nil {
		return err
	}
	defer fl.Stop()
	objs := b.fluxObjects()
	log.Printf("flux: first round of %d apps", len(b.apps))
	start = time.Now()
	if err := fl.Apply(ctx, objs...); err != nil {
		return err
	}
	if _, err := b.wait(fxNS, b.apps, 15*time.Minute); err != nil {
		return err
	}
	fx.firstRound = time.Since(start)
	log.Printf("flux: first round %s", fx.firstRound.Round(time.Millisecond))
	hookURL, err := b.receiverPath(ctx, fl)
	if err != nil {
		return err
	}

	// Steady state: both idle side by side over the same window.
	log.Printf("steady state over %d intervals of %s", rounds, b.interval)
	time.Sleep(b.interval) // let the last syncs and Flux's first checks settle
	trPids := []int{srv.Pid()}
	var fxPids []int
	for _, p := range fl.Processes() {
		fxPids = append(fxPids, p.Pid())
	}
	trCPU0, fxCPU0 := cpuSeconds(trPids), cpuSeconds(fxPids)
	for end := time.Now().Add(time.Duration(rounds) * b.interval); time.Now().Before(end); time.Sleep(2 * time.Second) {
		tr.rss = max(tr.rss, rss(trPids))
		fx.rss = max(fx.rss, rss(fxPids))
	}
	tr.cpu, fx.cpu = cpuSeconds(trPids)-trCPU0, cpuSeconds(fxPids)-fxCPU0
	log.Printf("steady state: CPU tagrelay %.2f s, Flux %.2f s; peak RSS tagrelay %s, Flux %s", tr.cpu, fx.cpu, measure.MiB(tr.rss), measure.MiB(fx.rss))
	if err := fl.Exited(); err != nil {
		return err
	}

	// Webhook to Ready, one app at a time.
	log.Printf("webhook to Ready, %d samples each", hooks)
	for i := range hooks {
		app := b.apps[(i*7)%len(b.apps)]
		if err := b.bump([]string{app}, fmt.Sprintf("h%d", i)); err != nil {
			return err
		}
		d, err := b.timed(trNS, []string{app}, func() error { return b.gitlabHook(srv.URL, b.repoOf[app]) })
		if err != nil {
			return err
		}
		tr.hooks = append(tr.hooks, d...)
		d, err = b.timed(fxNS, []string{app}, func() error { return b.fluxHook(fl.ReceiverURL+hookURL[b.repoOf[app]], b.repoOf[app]) })
		if err != nil {
			return err
		}
		fx.hooks = append(fx.hooks, d...)
	}

	log.Printf("webhook to Ready p50/p99: tagrelay %s/%s, Flux %s/%s", percentile(tr.hooks, .5), percentile(tr.hooks, .99),
		percentile(fx.hooks, .5), percentile(fx.hooks, .99))

	// Concurrent triggers.
	log.Printf("%d concurrent triggers", triggers)
	some := b.apps[:min(triggers, len(b.apps))]
	if err := b.bump(some, "t1"); err != nil {
		return err
	}
	client := srv.Client()
	d, err := b.timed(trNS, some, func() error {
		return parallel(some, func(app string) error {
			_, err := client.Sync(ctx, app, api.SyncRequest{})
			return err
		})
	})
	if err != nil {
		return err
	}
	tr.triggers = d
	d, err = b.timed(fxNS, some, func() error {
		now := time.Now().Format(time.RFC3339Nano)
		return parallel(some, func(app string) error {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, now)
			_, err := b.dyn.Resource(gitRepoGVR).Namespace(fxNS).Patch(ctx, app, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		})
	})
	if err != nil {
		return err
	}
	fx.triggers = d
	_ = fl.Stop()
	_ = srv.Stop()

	b.report(len(b.apps), rounds, tr, fx, 0, 0) // the figures so far, should the takeover fail
	takeover, synced, err := b.takeover(ctx, cfg)
	if err != nil {
		return fmt.Errorf("shard takeover: %w", err)
	}
	b.report(len(b.apps), rounds, tr, fx, takeover, synced)
	return nil
}

// timed runs fire and returns, per app, the time from fire's start to the app Ready at its
// new image.
func (b *bench) timed(ns string, apps []string, fire func() error) ([]time.Duration, error) {
	start := time.Now()
	if err := fire(); err != nil {
		return nil, err
	}
	at, err := b.wait(ns, apps, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(at))
	for i, t := range at {
		out[i] = t.Sub(start)
	}
	return out, nil
}

func parallel(items []string, f func(string) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for _, it := range items {
		wg.Go(func() {
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
	gitRepoGVR  = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	receiverGVR = schema.GroupVersionResource{Group: "notification.toolkit.fluxcd.io", Version: "v1", Resource: "receivers"}
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
func (b *bench) receiverPath(ctx context.Context, fl *fluxtest.Flux) (map[string]string, error) {
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
func (b *bench) fluxHook(url, _ string) error {
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

// takeover runs two replicas with --shards 4, SIGKILLs the one holding an app's shard right
// after a commit for that app, and returns the time until the other holds every shard and
// until the app is Ready at the commit.
func (b *bench) takeover(ctx context.Context, cfg string) (holdAll, synced time.Duration, err error) {
	log.Printf("shard takeover: two replicas, 4 shards, default lease (15s)")
	start := func(name string) (*reconcilertest.Server, error) {
		return reconcilertest.Start(ctx, reconcilertest.Options{Binary: b.binary, Config: cfg, Kubeconfig: b.c.Kubeconfig,
			Namespace: sysNS, Dir: filepath.Join(b.dir, name), Interval: b.interval, LeaderElection: &reconcilertest.Lease{},
			Args: []string{"--shards", "4"}})
	}
	r1, err := start("r1")
	if err != nil {
		return 0, 0, err
	}
	defer r1.Stop()
	r2, err := start("r2")
	if err != nil {
		return 0, 0, err
	}
	defer r2.Stop()
	held := func(r *reconcilertest.Server) map[string]int {
		st, err := r.Client().Server(ctx)
		out := map[string]int{}
		if err == nil {
			for _, sh := range st.Shards {
				out[sh.Holder]++
			}
		}
		return out
	}
	for deadline := time.Now().Add(3 * time.Minute); held(r1)[r2.Identity] != 2 || held(r1)[r1.Identity] != 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the replicas did not split the shards: %v", held(r1))
		}
	}
	// An app on r2's shards: its trigger through r1 runs on r2.
	var app string
	for _, a := range b.apps[:min(len(b.apps), 40)] {
		res, err := r1.Client().Sync(ctx, a, api.SyncRequest{AllowNoop: true})
		if err == nil && res.Replica == r2.Identity {
			app = a
			break
		}
	}
	if app == "" {
		return 0, 0, fmt.Errorf("no app of r2's shards among the first 40")
	}
	if err := b.bump([]string{app}, "k1"); err != nil {
		return 0, 0, err
	}
	killed := time.Now()
	r2.Kill()
	for deadline := time.Now().Add(2 * time.Minute); held(r1)[r1.Identity] != 4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("r1 did not take all shards: %v", held(r1))
		}
	}
	holdAll = time.Since(killed)
	at, err := b.wait(trNS, []string{app}, 3*time.Minute)
	if err != nil {
		return 0, 0, err
	}
	return holdAll, at[0].Sub(killed), nil
}

// cpuSeconds sums utime+stime of processes (clock ticks of 10 ms).
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

func (b *bench) report(apps, rounds int, tr, fx results, holdAll, synced time.Duration) {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	dur := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	perPoll := func(cpu float64) float64 { return cpu / float64(rounds) }
	rows := [][]string{
		{"first full round Ready", dur(tr.firstRound), dur(fx.firstRound), ratio(tr.firstRound.Seconds(), fx.firstRound.Seconds())},
		{fmt.Sprintf("steady CPU over %d polls", rounds), fmt.Sprintf("%.2f s", tr.cpu), fmt.Sprintf("%.2f s", fx.cpu), ratio(tr.cpu, fx.cpu)},
		{"CPU per poll of all apps", fmt.Sprintf("%.3f s", perPoll(tr.cpu)), fmt.Sprintf("%.3f s", perPoll(fx.cpu)), ratio(tr.cpu, fx.cpu)},
		{"… as % of a core at a 3 min interval", fmt.Sprintf("%.2f %%", perPoll(tr.cpu)/180*100), fmt.Sprintf("%.2f %%", perPoll(fx.cpu)/180*100), ratio(tr.cpu, fx.cpu)},
		{"peak RSS (steady)", measure.MiB(tr.rss), measure.MiB(fx.rss), ratio(float64(tr.rss), float64(fx.rss))},
		{"webhook to Ready p50", dur(percentile(tr.hooks, .5)), dur(percentile(fx.hooks, .5)), ratio(percentile(tr.hooks, .5).Seconds(), percentile(fx.hooks, .5).Seconds())},
		{"webhook to Ready p99", dur(percentile(tr.hooks, .99)), dur(percentile(fx.hooks, .99)), ratio(percentile(tr.hooks, .99).Seconds(), percentile(fx.hooks, .99).Seconds())},
		{fmt.Sprintf("%d concurrent triggers p50", len(tr.triggers)), dur(percentile(tr.triggers, .5)), dur(percentile(fx.triggers, .5)), ratio(percentile(tr.triggers, .5).Seconds(), percentile(fx.triggers, .5).Seconds())},
		{fmt.Sprintf("%d concurrent triggers p99", len(tr.triggers)), dur(percentile(tr.triggers, .99)), dur(percentile(fx.triggers, .99)), ratio(percentile(tr.triggers, .99).Seconds(), percentile(fx.triggers, .99).Seconds())},
		{"killed replica: other holds all shards", dur(holdAll), "n/a", "-"},
		{"killed replica: its app Ready at a new commit", dur(synced), "n/a", "-"},
	}
	fmt.Printf("\n%d apps over %d repositories, poll interval %s, %d-way concurrency, same cluster and git server\n\n",
		apps, len(uniq(b.repoOf)), b.interval, concurrency)
	fmt.Printf("| %s | %s | %s | %s |\n|---|---|---|---|\n", "metric", "tagrelay", "Flux", "ratio")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
}

func uniq(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}
