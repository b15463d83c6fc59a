package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/reconcile"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const (
	gitUser  = "reconciler"
	gitToken = "s3cret-git-token"
)

// fixture is one test's world: a namespace for the app, one for the reconciler's records, a
// git server with the app's repository and a Reconciler.
type fixture struct {
	t    *testing.T
	ns   string
	sys  string // the reconciler's namespace
	git  *gittest.Server
	cs   kubernetes.Interface
	r    *reconcile.Reconciler
	repo string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := kubetest.Shared(t)
	t.Parallel()
	f := &fixture{t: t, ns: kubetest.Namespace(t, c), git: gittest.New(t, gittest.WithBasicAuth(gitUser, gitToken))}
	f.cs = kubernetes.NewForConfigOrDie(c.RESTConfig())
	f.sys = kubetest.Namespace(t, c)
	r, err := reconcile.New(c.RESTConfig(), reconcile.Options{Namespace: f.sys, CacheDir: t.TempDir(),
		PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	f.repo = "infra"
	f.git.MustCreateRepo(t, f.repo)
	return f
}

// app returns an app of the fixture's repository at path.
func (f *fixture) app(name, path string) reconcile.App {
	a := reconcile.App{Name: name, Repo: f.git.RepoURL(f.repo), Path: path, Namespace: f.ns,
		Timeout: reconcile.Duration(time.Minute)}
	cfg := reconcile.Config{Apps: []reconcile.App{a}}
	if err := cfg.Validate(); err != nil {
		f.t.Fatal(err)
	}
	cfg.Apps[0].Auth = reconcile.Auth{Username: gitUser, TokenEnv: "TOKEN"}
	if err := cfg.ResolveCredentials(func(string) string { return gitToken }); err != nil {
		f.t.Fatal(err)
	}
	return cfg.Apps[0]
}

func (f *fixture) commit(files map[string]string) string {
	f.t.Helper()
	return f.git.MustCommit(f.t, f.repo, "main", "change", files)
}

// sync runs a triggered sync (no-op guard on) and returns the result and error.
func (f *fixture) sync(app reconcile.App, opts reconcile.SyncOptions) (*reconcile.Result, error) {
	f.t.Helper()
	opts.Trigger, opts.Guard = reconcile.TriggerCLI, true
	return f.r.Sync(context.Background(), app, opts)
}

func (f *fixture) mustSync(app reconcile.App, opts reconcile.SyncOptions) *reconcile.Result {
	f.t.Helper()
	res, err := f.sync(app, opts)
	if err != nil {
		f.t.Fatalf("Sync(%s) = %v", app.Name, err)
	}
	return res
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	f.t.Helper()
	d, err := f.cs.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("reading Deployment %s: %v", name, err)
	}
	return d
}

// readyImages returns the images of the Ready pods of the app's namespace, sorted by image.
func (f *fixture) readyImages() map[string]int {
	f.t.Helper()
	pods, err := f.cs.CoreV1().Pods(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if kubetest.PodReady(&p) {
			out[kubetest.Image(p.Spec)]++
		}
	}
	return out
}

func (f *fixture) replicaSets() int {
	f.t.Helper()
	rs, err := f.cs.AppsV1().ReplicaSets(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(rs.Items)
}

// objectNames lists the ConfigMaps, Deployments and Services of the app's namespace.
func (f *fixture) objectNames() []string {
	f.t.Helper()
	ctx := context.Background()
	var out []string
	cms, err := f.cs.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range cms.Items {
		if c.Name != "kube-root-ca.crt" {
			out = append(out, "ConfigMap/"+c.Name)
		}
	}
	ds, _ := f.cs.AppsV1().Deployments(f.ns).List(ctx, metav1.ListOptions{})
	for _, d := range ds.Items {
		out = append(out, "Deployment/"+d.Name)
	}
	ss, _ := f.cs.CoreV1().Services(f.ns).List(ctx, metav1.ListOptions{})
	for _, s := range ss.Items {
		out = append(out, "Service/"+s.Name)
	}
	return out
}

func deploymentYAML(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  progressDeadlineSeconds: 3
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: %[1]s
        image: %[2]s
`, name, image)
}

func configMapYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  k: v\n", name)
}

// wantErr checks an error's sentinel and exit code.
func wantErr(t *testing.T, res *reconcile.Result, err, sentinel error, code int) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("Sync() error = %v, want %v", err, sentinel)
	}
	if res.ExitCode != code {
		t.Errorf("Sync() exit code = %d, want %d (%s)", res.ExitCode, code, res.Message)
	}
}
