// Package argocdtest runs a real Argo CD (v2.14: repo-server, application-controller and the API
// server, one binary chosen by ARGOCD_BINARY_NAME, plus Debian's redis-server) out of cluster
// against a kubetest cluster, the way Argo CD's own Procfile runs it for development. The binary
// comes from hack/peers.sh, which builds it from the Go module proxy once and caches it under
// ~/.cache/tagrelay.
//
//	func TestMain(m *testing.M) { argocdtest.Main(m) }
//
//	func TestSync(t *testing.T) {
//		a := argocdtest.Shared(t)            // skips under -short
//		token := a.AdminToken(t)
//		a.MustCreate(t, token, argocdtest.Application("web", repoURL, "app", "main", ns))
//		// POST a.URL+"/api/v1/applications/web/sync" …
//	}
//
// Applications deploy to the test cluster as https://kubernetes.default.svc (Argo CD's in-cluster
// destination; ARGOCD_FAKE_IN_CLUSTER maps it to the kubeconfig). Plain manifests and directories
// work; Helm and Kustomize sources would need helm/kustomize on PATH. Logs are in Dir/logs, kept
// when Start fails and, under Main, when a test failed.
package argocdtest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/peertest"
	"github.com/tagrelay/tagrelay/internal/regtest"
)

// Namespace is the control-plane namespace Argo CD runs for.
const Namespace = "argocd"

// The components, as named in Dir/logs.
const (
	Redis                 = "redis"
	RepoServer            = "argocd-repo-server"
	ApplicationController = "argocd-application-controller"
	Server                = "argocd-server"
)

// Options configure Start. The zero value is fine.
type Options struct {
	// BinDir holds argocd, crds/ and config/. Default: $TAGRELAY_ARGOCD_BIN, else the output of
	// `hack/peers.sh bindir argocd` (which builds it, and installs redis-server, when missing).
	BinDir string
}

// ArgoCD is a running Argo CD.
type ArgoCD struct {
	// Cluster is the cluster Argo CD manages.
	Cluster *kubetest.Cluster
	// URL is the API server's base URL, https://127.0.0.1:PORT, serving a certificate of CAFile.
	URL string
	// CAFile is the PEM certificate of the throw-away CA that signed the API server's certificate
	// (the argocd-server-tls secret).
	CAFile string
	// HTTP is a client that trusts CAFile.
	HTTP *http.Client
	// Password is the admin password (the argocd-initial-admin-secret).
	Password string
	// Binary is the argocd binary; run as the CLI with ARGOCD_BINARY_NAME=argocd.
	Binary string
	// Dir holds logs/<component>.log, the kubeconfig and Argo CD's data directories.
	Dir string

	group *peertest.Group
}

const startTimeout = 3 * time.Minute

// Start applies Argo CD's CRDs and base config to c and starts redis, the repo-server, the
// application controller and the API server (TLS, with a certificate of a throw-away CA) on free
// 127.0.0.1 ports. It returns once the API
// server answers and the admin password exists. The processes outlive ctx; call Stop.
func Start(ctx context.Context, c *kubetest.Cluster, o Options) (a *ArgoCD, err error) {
	bin, err := peertest.BinDir(ctx, o.BinDir, "TAGRELAY_ARGOCD_BIN", "argocd", "argocd", "crds", "config")
	if err != nil {
		return nil, err
	}
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found: apt-get install redis-server (hack/peers.sh build argocd does)")
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	g, err := peertest.NewGroup("argocdtest")
	if err != nil {
		return nil, err
	}
	a = &ArgoCD{Cluster: c, Binary: filepath.Join(bin, "argocd"), Dir: g.Dir, group: g}
	defer func() {
		if err != nil {
			err = fmt.Errorf("starting Argo CD (logs in %s): %w", filepath.Join(g.Dir, "logs"), err)
			_ = g.Stop(true)
		}
	}()
	if err := a.prepare(ctx, bin); err != nil {
		return nil, err
	}
	ports, err := peertest.FreePorts(6)
	if err != nil {
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	if _, err := g.Start(Redis, nil, redis, "--port", p(0), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", g.Dir); err != nil {
		return nil, err
	}
	if err := waitRedis(ctx, "127.0.0.1:"+p(0)); err != nil {
		return nil, err
	}
	env := a.env()
	redisAddr := "localhost:" + p(0)
	repo := "localhost:" + p(1)
	components := []struct {
		name, health string
		env          []string
		args         []string
	}{
		{RepoServer, "http://127.0.0.1:" + p(2) + "/metrics", nil,
			[]string{"--address", "127.0.0.1", "--port", p(1), "--metrics-address", "127.0.0.1", "--metrics-port", p(2), "--redis", redisAddr}},
		// HOSTNAME: the controller reads its shard from it, as from a StatefulSet pod name.
		{ApplicationController, "http://127.0.0.1:" + p(3) + "/metrics", []string{"HOSTNAME=argocd-application-controller-0"},
			[]string{"--redis", redisAddr, "--repo-server", repo, "--metrics-port", p(3)}},
		{Server, "https://127.0.0.1:" + p(4) + "/healthz", nil,
			[]string{"--address", "127.0.0.1", "--port", p(4), "--metrics-port", p(5), "--redis", redisAddr,
				"--repo-server", repo, "--staticassets", filepath.Join(g.Dir, "static")}},
	}
	procs := make([]*peertest.Process, len(components))
	for i, comp := range components {
		e := append(append(append([]string{}, env...), "ARGOCD_BINARY_NAME="+comp.name), comp.env...)
		if procs[i], err = g.Start(comp.name, e, a.Binary, comp.args...); err != nil {
			return nil, err
		}
	}
	probe := &http.Client{Transport: a.HTTP.Transport, Timeout: 2 * time.Second}
	for i, comp := range components {
		if err := procs[i].WaitHTTP(ctx, probe, comp.health); err != nil {
			return nil, err
		}
	}
	a.URL = "https://127.0.0.1:" + p(4)
	if a.Password, err = a.adminPassword(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// prepare creates the namespace, applies the CRDs and the base config, writes a kubeconfig whose
// namespace is Argo CD's, and the data directories.
func (a *ArgoCD) prepare(ctx context.Context, bin string) error {
	cs, err := kubernetes.NewForConfig(a.Cluster.RESTConfig())
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", Namespace, err)
	}
	var files []string
	for _, glob := range []string{"crds/*.yaml", "config/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(bin, glob))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	if err := peertest.ApplyFiles(ctx, a.Cluster.RESTConfig(), Namespace, files...); err != nil {
		return err
	}
	if err := a.serverTLS(ctx, cs); err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(a.Cluster.Kubeconfig)
	if err != nil {
		return err
	}
	for _, kc := range cfg.Contexts {
		kc.Namespace = Namespace
	}
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(a.Dir, "kubeconfig")); err != nil {
		return err
	}
	for _, d := range []string{"tls", "ssh", "gnupg", "static"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// serverTLS creates a CA and the argocd-server-tls secret it signs, which argocd-server serves
// instead of its self-signed certificate, so clients verify it as in production.
func (a *ArgoCD) serverTLS(ctx context.Context, cs kubernetes.Interface) error {
	ca, err := regtest.NewCA(a.Dir)
	if err != nil {
		return err
	}
	a.CAFile = ca.CertFile
	pool, err := ca.Pool()
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	a.HTTP = &http.Client{Transport: tr}
	crt, err := os.ReadFile(ca.ServerCertFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(ca.ServerKeyFile)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-server-tls", Namespace: Namespace},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": crt, "tls.key": key}}
	_ = cs.CoreV1().Secrets(Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{})
	if _, err := cs.CoreV1().Secrets(Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating secret argocd-server-tls: %w", err)
	}
	return nil
}

// env is the environment of every component, as Argo CD's Procfile sets it.
func (a *ArgoCD) env() []string {
	return []string{
		"ARGOCD_FAKE_IN_CLUSTER=true",
		"KUBECONFIG=" + filepath.Join(a.Dir, "kubeconfig"),
		"ARGOCD_TLS_DATA_PATH=" + filepath.Join(a.Dir, "tls"),
		"ARGOCD_SSH_DATA_PATH=" + filepath.Join(a.Dir, "ssh"),
		"ARGOCD_GNUPGHOME=" + filepath.Join(a.Dir, "gnupg"),
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_LOG_FORMAT_ENABLE_FULL_TIMESTAMP=1",
	}
}

// waitRedis waits until redis answers PING.
func waitRedis(ctx context.Context, addr string) error {
	return wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return false, nil
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		return err == nil && line == "+PONG\r\n", nil
	})
}

// adminPassword reads the initial admin password the API server writes on its first start.
func (a *ArgoCD) adminPassword(ctx context.Context) (string, error) {
	cs, err := kubernetes.NewForConfig(a.Cluster.RESTConfig())
	if err != nil {
		return "", err
	}
	var pw string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Secrets(Namespace).Get(ctx, "argocd-initial-admin-secret", metav1.GetOptions{})
		if err != nil {
			return false, a.group.Exited()
		}
		pw = string(s.Data["password"])
		return pw != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("waiting for argocd-initial-admin-secret: %w", err)
	}
	return pw, nil
}

// Processes returns the running components (for their RSS, their logs).
func (a *ArgoCD) Processes() []*peertest.Process { return a.group.Processes() }

// Exited returns an error naming a component that is no longer running, or nil.
func (a *ArgoCD) Exited() error { return a.group.Exited() }

// Stop stops the components and removes Dir. It is safe to call twice.
func (a *ArgoCD) Stop() error { return a.group.Stop(false) }
