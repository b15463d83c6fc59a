package reconcilertest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tagrelay/tagrelay/internal/gittest"
	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/reconcilertest"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// binary is tagrelay-reconciler, built once for the package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(kubetest.Run(m)) // every test needs the cluster: they skip
	}
	dir, err := os.MkdirTemp("", "reconcilertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "tagrelay-reconciler")
	cmd := exec.Command("go", "build", "-o", binary, "../../cmd/tagrelay-reconciler")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tagrelay-reconciler:", err)
		os.Exit(1)
	}
	code := kubetest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	gitToken = "git-s3cret-token"
	apiToken = "api-s3cret-token-0123456789"
)

// lease is short, so failovers take seconds.
var lease = &reconcilertest.Lease{Duration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 500 * time.Millisecond}

// fixture is one test's world: the app's namespace, the reconcilers' namespace (their Lease,
// inventories and histories), a git server with the infra repository, and an apps config.
type fixture struct {
	t           *testing.T
	dir, ns     string
	sys, config string
	kubeconfig  string
	git         *gittest.Server
	cs          kubernetes.Interface
}

func newFixture(t *testing.T) *fixture {
	c := kubetest.Shared(t)
	t.Parallel()
	f := &fixture{t: t, dir: t.TempDir(), ns: kubetest.Namespace(t, c), sys: kubetest.Namespace(t, c), kubeconfig: c.Kubeconfig,
		git: gittest.New(t, gittest.WithBasicAuth("ci", gitToken)), cs: kubernetes.NewForConfigOrDie(c.RESTConfig())}
	f.git.MustCreateRepo(t, "infra")
	f.write("git-token", gitToken)
	f.config = f.write("apps.yaml", fmt.Sprintf(`apps:
- name: web
  repo: %s
  path: apps/web
  namespace: %s
  timeout: 2m
  auth: {username: ci, tokenFile: %s}
`, f.git.RepoURL("infra"), f.ns, filepath.Join(f.dir, "git-token")))
	return f
}

func (f *fixture) write(name, content string) string {
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// start runs a replica named name.
func (f *fixture) start(name string, o reconcilertest.Options) *reconcilertest.Server {
	f.t.Helper()
	o.Binary, o.Config, o.Kubeconfig, o.Namespace, o.Token = binary, f.config, f.kubeconfig, f.sys, apiToken
	o.Dir = filepath.Join(f.dir, name)
	o.Args = append(o.Args, "--drain-timeout", "20s")
	s, err := reconcilertest.Start(context.Background(), o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		if f.t.Failed() {
			f.t.Logf("replica %s (%s) log:\n%s", name, s.Identity, s.Logs())
		}
		_ = s.Stop()
	})
	return s
}

// commit writes the app's files at tag: a Deployment of two replicas whose rollout takes
// minReady seconds per pod (the window a failover test needs), and the given extra objects.
func (f *fixture) commit(tag string, minReady int, extra ...string) string {
	f.t.Helper()
	files := map[string]string{"apps/web/web.yaml": strings.TrimSpace(fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  minReadySeconds: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example.com/web:%s"}]}
`, minReady, tag)) + "\n"}
	for _, e := range []string{"ConfigMap/a", "ConfigMap/b", "Service/s"} {
		kind, name, _ := strings.Cut(e, "/")
		path := "apps/web/" + strings.ToLower(kind) + "-" + name + ".yaml"
		files["-"+path] = "" // absent unless listed
		if slices.Contains(extra, e) {
			delete(files, "-"+path)
			files[path] = map[string]string{
				"ConfigMap": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {k: v}\n",
				"Service":   "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
			}[kind]
		}
	}
	return f.git.MustCommit(f.t, "infra", "main", "deploy "+tag, files)
}

// readyImages counts the app's Ready pods by image.
func (f *fixture) readyImages() map[string]int {
	f.t.Helper()
	pods, err := f.cs.CoreV1().Pods(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && kubetest.PodReady(&p) {
			out[kubetest.Image(p.Spec)]++
		}
	}
	return out
}

// state reads the app's history ConfigMap: the entries, and the raw state record.
func (f *fixture) state() ([]api.SyncResult, map[string]json.RawMessage) {
	f.t.Helper()
	cm, err := f.cs.CoreV1().ConfigMaps(f.sys).Get(context.Background(), "tagrelay-history-web", metav1.GetOptions{})
	if err != nil {
		return nil, nil
	}
	var hist []api.SyncResult
	var rec map[string]json.RawMessage
	_ = json.Unmarshal([]byte(cm.Data["history.json"]), &hist)
	_ = json.Unmarshal([]byte(cm.Data["state.json"]), &rec)
	return hist, rec
}

// objects lists the app's ConfigMaps, Services and Deployments, and its inventory.
func (f *fixture) objects() (live, inventory []string) {
	f.t.Helper()
	ctx := context.Background()
	cms, _ := f.cs.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{})
	for _, c := range cms.Items {
		if c.Name != "kube-root-ca.crt" {
			live = append(live, "ConfigMap/"+c.Name)
		}
	}
	svcs, _ := f.cs.CoreV1().Services(f.ns).List(ctx, metav1.ListOptions{})
	for _, s := range svcs.Items {
		live = append(live, "Service/"+s.Name)
	}
	ds, _ := f.cs.AppsV1().Deployments(f.ns).List(ctx, metav1.ListOptions{})
	for _, d := range ds.Items {
		live = append(live, "Deployment/"+d.Name)
	}
	cm, err := f.cs.CoreV1().ConfigMaps(f.sys).Get(ctx, "tagrelay-inventory-web", metav1.GetOptions{})
	if err == nil {
		var refs []struct{ Kind, Name string }
		_ = json.Unmarshal([]byte(cm.Data["inventory.json"]), &refs)
		for _, r := range refs {
			inventory = append(inventory, r.Kind+"/"+r.Name)
		}
	}
	sort.Strings(live)
	sort.Strings(inventory)
	return live, inventory
}

// lease returns the leader Lease.
func (f *fixture) lease() *struct {
	holder   string
	acquired time.Time
} {
	f.t.Helper()
	l, err := f.cs.CoordinationV1().Leases(f.sys).Get(context.Background(), "tagrelay-reconciler", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return nil
	}
	out := &struct {
		holder   string
		acquired time.Time
	}{holder: *l.Spec.HolderIdentity}
	if l.Spec.AcquireTime != nil {
		out.acquired = l.Spec.AcquireTime.Time
	}
	return out
}

// waitFor polls cond until it holds, failing the test after 90 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// leaderOf returns which of the replicas leads, once exactly one does and all agree on it.
func leaderOf(t *testing.T, replicas ...*reconcilertest.Server) (leader *reconcilertest.Server, followers []*reconcilertest.Server) {
	t.Helper()
	waitFor(t, "exactly one leader", func() bool {
		leader, followers = nil, nil
		for _, r := range replicas {
			st, err := r.Client().Server(context.Background())
			if err != nil {
				return false
			}
			if st.Leading {
				if leader != nil {
					t.Fatalf("both %s and %s lead", leader.Identity, r.Identity)
				}
				leader = r
			} else {
				followers = append(followers, r)
			}
		}
		if leader == nil {
			return false
		}
		for _, r := range followers {
			if st, _ := r.Client().Server(context.Background()); st == nil || st.Leader != leader.Identity {
				return false
			}
		}
		return true
	})
	return leader, followers
}

// servedSerial returns the serial number of the certificate url serves, verified with caFile.
func servedSerial(url, caFile string) (string, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}
