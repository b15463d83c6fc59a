package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
)

// startCluster starts the test cluster, building its binaries first when the cache lacks them,
// and creates the demo's namespaces.
func (d *demo) startCluster() error {
	d.say("Kubernetes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, a simulated")
	d.say("kubelet (pods are scheduled and become Ready; no container runs, so no image is pulled).")
	bin := os.Getenv("TAGRELAY_TESTCLUSTER_BIN")
	if bin == "" {
		d.say("The first run on a machine builds them from the Go module proxy (~12 min on 2 cores);")
		d.say("later runs find them cached under ~/.cache/tagrelay/testcluster.")
		fmt.Fprintf(d.out, "\n  $ hack/testcluster.sh bindir\n")
		cmd := exec.CommandContext(d.ctx, filepath.Join("hack", "testcluster.sh"), "bindir")
		cmd.Stderr = &prefixWriter{w: d.out, prefix: "    "}
		// An interrupted build stops with its go commands: the script runs in its own process
		// group, which is what gets the signal.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("building the test cluster binaries (run the demo from the repository root: make demo): %w", err)
		}
		bin = strings.TrimSpace(string(out))
		fmt.Fprint(d.out, indent(bin))
	}
	c, err := kubetest.Start(d.ctx, kubetest.Options{BinDir: bin})
	if err != nil {
		return err
	}
	d.atEnd(func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test cluster:", err)
		}
	})
	d.say("kube-apiserver:                      %s", c.Host)
	d.say("kubeconfig:                          %s", c.Kubeconfig)
	if d.kube, err = kubernetes.NewForConfig(c.RESTConfig()); err != nil {
		return err
	}
	for _, ns := range []string{namespace, sysNS} {
		if _, err := d.kube.CoreV1().Namespaces().Create(d.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	d.say("namespaces:                          %s (the app), %s (the reconciler's records)", namespace, sysNS)
	d.kubeconfig = c.Kubeconfig
	return nil
}

// startReconciler runs the built tagrelay-reconciler serve with one app: envs/prod of the
// internal infra repository, deployed into the app's namespace.
func (d *demo) startReconciler() error {
	dir := filepath.Join(d.tmp, "reconciler")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	gitToken := filepath.Join(dir, "git-token")
	if err := os.WriteFile(gitToken, []byte(token), 0o600); err != nil {
		return err
	}
	apps := fmt.Sprintf(`apps:
  - name: %s
    repo: %s
    revision: main
    path: envs/prod
    type: kustomize
    namespace: %s
    timeout: 2m
    auth: {username: oauth2, tokenFile: %s}
`, app, d.git.RepoURL("internal/infra"), namespace, gitToken)
	notify, err := d.startForge(dir)
	if err != nil {
		return err
	}
	apps += notify
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	config := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(config, []byte(apps), 0o600); err != nil {
		return err
	}
	d.say("apps.yaml:\n%s", indent(apps))
	rec, err := reconcilertest.Start(d.ctx, reconcilertest.Options{Binary: filepath.Join(d.bin, "tagrelay-reconciler"),
		Config: config, Kubeconfig: d.kubeconfig, Namespace: sysNS, Dir: dir, Args: []string{"--listen", addr, "--external-url", "http://" + addr}})
	if err != nil {
		return err
	}
	d.rec = rec
	d.atEnd(func() {
		if err := rec.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	})
	fmt.Fprintf(d.out, "\n  $ tagrelay-reconciler %s &\n", strings.Join(rec.Args, " "))
	d.say("  API %s, bearer token in %s", rec.URL, rec.TokenFile)
	d.say("  polls are off (--interval -1s): only the pipeline's triggers below deploy")
	return nil
}

// clusterState is the app's Deployment, its ReplicaSets (oldest revision first) and pods.
type clusterState struct {
	deploy *appsv1.Deployment
	rs     []appsv1.ReplicaSet
	pods   []corev1.Pod
}

func (d *demo) state() (*clusterState, error) {
	s := &clusterState{}
	var err error
	if s.deploy, err = d.kube.AppsV1().Deployments(namespace).Get(d.ctx, app, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("the app's Deployment: %w", err)
	}
	rss, err := d.kube.AppsV1().ReplicaSets(namespace).List(d.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, rs := range rss.Items {
		if o := metav1.GetControllerOf(&rs); o != nil && o.UID == s.deploy.UID {
			s.rs = append(s.rs, rs)
		}
	}
	sort.Slice(s.rs, func(i, j int) bool { return revision(&s.rs[i]) < revision(&s.rs[j]) })
	pods, err := d.kube.CoreV1().Pods(namespace).List(d.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	s.pods = pods.Items
	sort.Slice(s.pods, func(i, j int) bool { return s.pods[i].Name < s.pods[j].Name })
	return s, nil
}

// rolledOut reports whether every replica of the Deployment runs image, Ready, and no other
// pod is left (not even terminating).
func (s *clusterState) rolledOut(image string) bool {
	want := *s.deploy.Spec.Replicas
	st := s.deploy.Status
	if kubetest.Image(s.deploy.Spec.Template.Spec) != image || st.ObservedGeneration < s.deploy.Generation ||
		st.UpdatedReplicas != want || st.ReadyReplicas != want || st.AvailableReplicas != want || int32(len(s.pods)) != want {
		return false
	}
	for i := range s.pods {
		if p := &s.pods[i]; p.DeletionTimestamp != nil || kubetest.Image(p.Spec) != image || !kubetest.PodReady(p) {
			return false
		}
	}
	return true
}

// showCluster prints the app's Deployment, ReplicaSets and pods the way kubectl get does, once
// the rollout to image is complete and the old pods are gone. The reconciler has waited for the
// rollout already; the old pods' deletion may still be under way.
func (d *demo) showCluster(image string) error {
	deadline := time.Now().Add(30 * time.Second)
	var s *clusterState
	for {
		var err error
		if s, err = d.state(); err != nil {
			return err
		}
		if s.rolledOut(image) || time.Now().After(deadline) || d.ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(d.out, "\n  $ kubectl -n %s get deploy,rs,pods   # as client-go reads them, with the images\n", namespace)
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	st := s.deploy.Status
	fmt.Fprintln(w, "NAME\tREADY\tUP-TO-DATE\tAVAILABLE\tIMAGE")
	fmt.Fprintf(w, "deployment.apps/%s\t%d/%d\t%d\t%d\t%s\n", s.deploy.Name, st.ReadyReplicas, *s.deploy.Spec.Replicas,
		st.UpdatedReplicas, st.AvailableReplicas, kubetest.Image(s.deploy.Spec.Template.Spec))
	w.Flush()
	b.WriteString("\n")
	w = tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tDESIRED\tCURRENT\tREADY\tREVISION\tIMAGE")
	for _, rs := range s.rs {
		fmt.Fprintf(w, "replicaset.apps/%s\t%d\t%d\t%d\t%d\t%s\n", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas,
			revision(&rs), kubetest.Image(rs.Spec.Template.Spec))
	}
	w.Flush()
	b.WriteString("\n")
	w = tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tREADY\tSTATUS\tIMAGE")
	for i := range s.pods {
		p := &s.pods[i]
		ready, status := "0/1", string(p.Status.Phase)
		if kubetest.PodReady(p) {
			ready = "1/1"
		}
		if p.DeletionTimestamp != nil {
			status = "Terminating"
		}
		fmt.Fprintf(w, "pod/%s\t%s\t%s\t%s\n", p.Name, ready, status, kubetest.Image(p.Spec))
	}
	w.Flush()
	fmt.Fprint(d.out, indent(b.String()))
	if !s.rolledOut(image) {
		return fmt.Errorf("the app has not rolled out %s", image)
	}
	return nil
}

// replicaSets returns what a refused deploy must not change: the Deployment's generation and
// its ReplicaSets.
func (d *demo) replicaSets() (string, error) {
	s, err := d.state()
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("Deployment %s generation %d, ReplicaSets", app, s.deploy.Generation)
	for _, rs := range s.rs {
		out += fmt.Sprintf(" %s=%d", rs.Name, *rs.Spec.Replicas)
	}
	return out, nil
}

// refused runs a step that must be refused (exit 3) and checks that the cluster is as before.
func (d *demo) refused(what string, args ...string) error {
	before, err := d.replicaSets()
	if err != nil {
		return err
	}
	if err := d.want(3, what, args...); err != nil {
		return err
	}
	after, err := d.replicaSets()
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("the refused step changed the cluster: before %s, after %s", before, after)
	}
	d.say("the cluster is untouched: %s", after)
	return nil
}

func revision(rs *appsv1.ReplicaSet) int {
	n, _ := strconv.Atoi(rs.Annotations["deployment.kubernetes.io/revision"])
	return n
}

// prefixWriter indents what is written to it line by line (the cluster build's progress).
type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool // inside a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if !p.mid {
			out = append(out, p.prefix...)
			p.mid = true
		}
		out = append(out, c)
		if c == '\n' {
			p.mid = false
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
