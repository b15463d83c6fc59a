package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tagrelay/tagrelay/internal/peertest"
)

// stages is the kwok stage configuration: fast pods, ":broken" images crash-loop.
//
//go:embed stages.yaml
var stages []byte

// NodeName is the name of the simulated node every pod is scheduled on.
const NodeName = "kwok-node-0"

// Options configure Start. The zero value is fine.
type Options struct {
	// BinDir holds k8s-all (with its etcd, kube-apiserver, ... symlinks) and kwok. Default:
	// $TAGRELAY_TESTCLUSTER_BIN, else the output of `hack/testcluster.sh bindir` (which builds
	// the binaries when missing), the script found in the working directory or above it.
	BinDir string
}

// startTimeout bounds Start.
const startTimeout = 2 * time.Minute

// Cluster is a running control plane.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig file with cluster-admin rights.
	Kubeconfig string
	// Host is the API server URL, https://127.0.0.1:PORT.
	Host string
	// Dir holds the certificates, the kubeconfig and the logs (logs/<component>.log): a new
	// temporary directory, removed by Stop (kept when Start fails, for its logs).
	Dir string
	// ContainerLog is the file kwok serves as the log of every container, through its kubelet
	// endpoint, so `kubectl logs` and the pods/log API work (with follow). Its lines are in the
	// CRI format ("2006-01-02T15:04:05.000000000Z stdout F text"); append to it (AppendLog)
	// to make a followed log move.
	ContainerLog string

	token   string
	caData  []byte
	etcdURL string
	procs   *peertest.Group
}

// Start starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free
// 127.0.0.1 ports, registers one simulated node and returns when it is Ready and the controllers
// run. The processes outlive ctx; call Stop.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	bin, err := binDir(ctx, opts.BinDir)
	if err != nil {
		return nil, err
	}
	procs, err := peertest.NewGroup("kubetest")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: procs.Dir, procs: procs}
	defer func() {
		if err != nil {
			err = fmt.Errorf("starting test cluster (logs in %s): %w", filepath.Join(c.Dir, "logs"), err)
			c.stop(false)
		}
	}()
	if err := c.prepare(); err != nil {
		return nil, err
	}
	if err := c.startEtcd(ctx, bin); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, bin); err != nil {
		return nil, err
	}
	if err := c.startControllers(bin); err != nil {
		return nil, err
	}
	if err := c.addNode(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) prepare() error {
	for _, d := range []string{"logs", "certs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	c.token = hex.EncodeToString(tok)
	c.ContainerLog = filepath.Join(c.Dir, "container.log")
	// kwok serves every container's log from ContainerLog (a ClusterLogs rule in its config).
	logs := fmt.Sprintf("---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata: {name: every-container}\n"+
		"spec:\n  logs:\n  - logsFile: %q\n    follow: true\n", c.ContainerLog)
	files := map[string][]byte{
		"sa.key":        keyPEM,
		"tokens.csv":    []byte(c.token + ",admin,admin,system:masters\n"),
		"stages.yaml":   append(append([]byte{}, stages...), logs...),
		"container.log": criLines(time.Now(), "kwok: simulated container started", "listening on :8080"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startEtcd(ctx context.Context, bin string) error {
	ports, err := peertest.FreePorts(3)
	if err != nil {
		return err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	p, err := c.start(bin, "etcd", "--unsafe-no-fsync", "--name=kubetest", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=kubetest="+peer,
		"--listen-metrics-urls=http://127.0.0.1:"+strconv.Itoa(ports[2]))
	if err != nil {
		return err
	}
	c.etcdURL = client
	return p.WaitHTTP(ctx, http.DefaultClient, client+"/health")
}

func (c *Cluster) startAPIServer(ctx context.Context, bin string) error {
	ports, err := peertest.FreePorts(1)
	if err != nil {
		return err
	}
	c.Host = "https://127.0.0.1:" + strconv.Itoa(ports[0])
	key := filepath.Join(c.Dir, "sa.key")
	p, err := c.start(bin, "kube-apiserver", "--etcd-servers="+c.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
		"--cert-dir="+filepath.Join(c.Dir, "certs"),
		"--service-account-issuer=https://kubetest.local", "--service-account-key-file="+key,
		"--service-account-signing-key-file="+key, "--token-auth-file="+filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.96.0.0/16",
		// Pods get no service account token volume: kwok runs no containers.
		"--disable-admission-plugins=ServiceAccount",
		// pods/log reaches kwok's kubelet endpoint at the node's InternalIP (its Hostname,
		// the default first choice, resolves nowhere).
		"--kubelet-preferred-address-types=InternalIP")
	if err != nil {
		return err
	}
	// The API server writes its self-signed serving certificate (and the CA that signed it)
	// before it listens; until then, probe without verification.
	probe := &http.Client{Transport: insecureTransport(c.token), Timeout: 5 * time.Second}
	if err := p.WaitHTTP(ctx, probe, c.Host+"/readyz"); err != nil {
		return err
	}
	if c.caData, err = os.ReadFile(filepath.Join(c.Dir, "certs", "apiserver.crt")); err != nil {
		return fmt.Errorf("reading the API server certificate: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	return clientcmd.WriteToFile(c.kubeconfig(), c.Kubeconfig)
}

func (c *Cluster) startControllers(bin string) error {
	kc := c.Kubeconfig
	auth := []string{"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--leader-elect=false", "--secure-port=0", "--bind-address=127.0.0.1"}
	// A client rate limit of 20 QPS (the default) makes a 100-Deployment rollout crawl.
	if _, err := c.start(bin, "kube-controller-manager", append(auth, "--controllers=*",
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--service-account-private-key-file="+filepath.Join(c.Dir, "sa.key"),
		"--root-ca-file="+filepath.Join(c.Dir, "certs", "apiserver.crt"))...); err != nil {
		return err
	}
	if _, err := c.start(bin, "kube-scheduler", auth...); err != nil {
		return err
	}
	// kwok's kubelet endpoint (logs) listens on a free port, published in the node's status.
	port, err := peertest.FreePorts(1)
	if err != nil {
		return err
	}
	// Without a node lease, the node lifecycle controller declares the node lost after ~50 s
	// and marks every pod NotReady for good (kwok's pod stages only act on Pending pods).
	_, err = c.start(bin, "kwok", "--kubeconfig="+kc, "-c", filepath.Join(c.Dir, "stages.yaml"),
		"--node-lease-duration-seconds=40",
		"--node-port="+strconv.Itoa(port[0]), "--server-address=127.0.0.1:"+strconv.Itoa(port[0]),
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--cidr=10.244.0.0/16")
	return err
}

// addNode registers the simulated node, then waits for kwok to mark it Ready and for the
// controller manager to create the default service account (proof that the controllers run).
func (c *Cluster) addNode(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("1000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux"}},
		Status: corev1.NodeStatus{Allocatable: capacity, Capacity: capacity},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering node: %w", err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, c.procs.Exited()
	})
	if err != nil {
		return fmt.Errorf("waiting for node %s to be Ready: %w", NodeName, err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, c.procs.Exited()
		}
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the controller manager: %w", err)
	}
	return nil
}

// RESTConfig returns a client configuration with cluster-admin rights. Its rate limits are high:
// the cluster is local and tests should not wait on a client-side throttle.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            c.Host,
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caData},
		QPS:             500,
		Burst:           1000,
	}
}

func (c *Cluster) kubeconfig() clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.caData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: c.token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	return *cfg
}

// Stop stops every process (SIGTERM, then SIGKILL after 5 s) and removes Dir. It is safe to
// call twice.
func (c *Cluster) Stop() error {
	return c.stop(true)
}

func (c *Cluster) stop(removeDir bool) error {
	if c == nil {
		return nil
	}
	return c.procs.Stop(!removeDir)
}

// AppendLog appends lines to ContainerLog, in the CRI log format.
func (c *Cluster) AppendLog(lines ...string) error {
	f, err := os.OpenFile(c.ContainerLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(criLines(time.Now(), lines...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// criLines formats lines as a container runtime writes them: timestamp, stream, full-line tag.
func criLines(t time.Time, lines ...string) []byte {
	var b []byte
	for _, l := range lines {
		b = fmt.Appendf(b, "%s stdout F %s\n", t.UTC().Format(time.RFC3339Nano), l)
	}
	return b
}
