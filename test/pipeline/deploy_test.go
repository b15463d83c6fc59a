package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
)

// appName is the app the reconciler deploys and the name of its Deployment.
const appName = "app"

// target is a namespace of the shared test cluster and a tagrelay-reconciler (the built binary,
// `serve`, polls off: only the pipeline's triggers deploy) whose one app, "app", renders path of
// repo on the git server into it.
type target struct {
	ns  string
	cs  kubernetes.Interface
	rec *reconcilertest.Server
}

func newTarget(t *testing.T, git *gittest.Server, repo, path, kind string) *target {
	t.Helper()
	c := kubetest.Shared(t)
	tg := &target{ns: kubetest.Namespace(t, c)}
	sys := kubetest.Namespace(t, c)
	dir := t.TempDir()
	gitTokenFile := filepath.Join(dir, "git-token")
	config := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(gitTokenFile, []byte(gitToken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, fmt.Appendf(nil, `apps:
- name: %s
  repo: %s
  path: %s
  type: %s
  namespace: %s
  timeout: 2m
  auth: {username: oauth2, tokenFile: %s}
`, appName, git.RepoURL(repo), path, kind, tg.ns, gitTokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	tg.rec, err = reconcilertest.Start(context.Background(), reconcilertest.Options{
		Binary: filepath.Join(bin, "tagrelay-reconciler"), Config: config, Kubeconfig: c.Kubeconfig, Namespace: sys,
		Dir: filepath.Join(dir, "reconciler")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tagrelay-reconciler log:\n%s", tg.rec.Logs())
		}
		if err := tg.rec.Stop(); err != nil {
			t.Error(err)
		}
	})
	if tg.cs, err = kubernetes.NewForConfig(c.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	return tg
}

// trigger runs the built `tagrelay trigger reconciler --wait` for the app and returns its exit
// code and output.
func (tg *target) trigger(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "tagrelay"), append([]string{"trigger", "reconciler", "--url", tg.rec.URL,
		"--app", appName, "--token-file", tg.rec.TokenFile, "--wait"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// replicaSets returns the Deployment's ReplicaSets, name → image of their pod template.
func (tg *target) replicaSets(t *testing.T) map[string]string {
	t.Helper()
	list, err := tg.cs.AppsV1().ReplicaSets(tg.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rs := range list.Items {
		if owner := metav1.GetControllerOf(&rs); owner != nil && owner.Kind == "Deployment" && owner.Name == appName {
			out[rs.Name] = kubetest.Image(rs.Spec.Template.Spec)
		}
	}
	return out
}

// deployment returns the app's Deployment.
func (tg *target) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := tg.cs.AppsV1().Deployments(tg.ns).Get(context.Background(), appName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the app's Deployment: %v", err)
	}
	return d
}

// rolledOut checks that the Deployment has rolled out image: its status is complete for its
// latest generation, the ReplicaSet of its newest revision runs image with every replica
// Ready, each of that ReplicaSet's pods is Ready with image, no other pod of the app is left
// running and every older ReplicaSet is scaled to zero. It returns that ReplicaSet's name.
func (tg *target) rolledOut(t *testing.T, image string) string {
	t.Helper()
	ctx := context.Background()
	d := tg.deployment(t)
	want := *d.Spec.Replicas
	if got := kubetest.Image(d.Spec.Template.Spec); got != image {
		t.Errorf("Deployment %s/%s template image = %s, want %s", tg.ns, appName, got, image)
	}
	if s := d.Status; s.ObservedGeneration < d.Generation || s.Replicas != want || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want {
		t.Errorf("Deployment %s/%s has not rolled out (generation %d, want %d replicas): status %+v", tg.ns, appName, d.Generation, want, s)
	}
	list, err := tg.cs.AppsV1().ReplicaSets(tg.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var current *appsv1.ReplicaSet
	revision := func(rs *appsv1.ReplicaSet) int {
		n, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
		return n
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if owner := metav1.GetControllerOf(rs); owner == nil || owner.UID != d.UID {
			continue
		}
		if current == nil || revision(rs) > revision(current) {
			current = rs
		}
	}
	if current == nil {
		t.Fatalf("Deployment %s/%s has no ReplicaSet", tg.ns, appName)
	}
	if got := kubetest.Image(current.Spec.Template.Spec); got != image || current.Status.ReadyReplicas != want {
		t.Errorf("newest ReplicaSet %s (revision %d): image %s, %d/%d Ready; want %s, %d Ready",
			current.Name, revision(current), got, current.Status.ReadyReplicas, want, image, want)
	}
	for _, rs := range list.Items {
		if rs.Name != current.Name && rs.Spec.Replicas != nil && *rs.Spec.Replicas != 0 {
			t.Errorf("older ReplicaSet %s (%s) still wants %d replicas", rs.Name, kubetest.Image(rs.Spec.Template.Spec), *rs.Spec.Replicas)
		}
	}
	pods, err := tg.cs.CoreV1().Pods(tg.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ready []string
	for _, p := range pods.Items {
		owner := metav1.GetControllerOf(&p)
		switch {
		case p.DeletionTimestamp != nil: // an old pod on its way out
		case owner == nil || owner.Name != current.Name:
			t.Errorf("pod %s (%s) of another ReplicaSet still runs", p.Name, kubetest.Image(p.Spec))
		case kubetest.Image(p.Spec) != image || !kubetest.PodReady(&p):
			t.Errorf("pod %s: image %s, phase %s, ready %v; want %s Ready", p.Name, kubetest.Image(p.Spec), p.Status.Phase, kubetest.PodReady(&p), image)
		default:
			ready = append(ready, p.Name)
		}
	}
	if int32(len(ready)) != want {
		t.Errorf("%d Ready pods of %s with %s (%v), want %d", len(ready), current.Name, image, ready, want)
	}
	return current.Name
}

// describe prints the app's ReplicaSets and pods, for logs.
func (tg *target) describe(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	rss := tg.replicaSets(t)
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "replicaset/%s %s\n", n, rss[n])
	}
	pods, err := tg.cs.CoreV1().Pods(tg.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod/%s %s ready=%v\n", p.Name, kubetest.Image(p.Spec), kubetest.PodReady(&p))
	}
	return b.String()
}
