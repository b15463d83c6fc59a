// Package fluxtest runs real Flux controllers (source-controller, kustomize-controller and, when
// asked, notification-controller) out of cluster against a kubetest cluster, for tests and
// benchmarks. The binaries come from hack/peers.sh, which builds them from the Go module proxy
// once and caches them under ~/.cache/tagrelay.
//
// In a test package, one Flux is shared by the whole test binary, next to its cluster:
//
//	func TestMain(m *testing.M) { fluxtest.Main(m) }
//
//	func TestTrigger(t *testing.T) {
//		f := fluxtest.Shared(t)            // skips under -short
//		ns := kubetest.Namespace(t, f.Cluster)
//		f.Apply(ctx, fluxtest.GitRepository(ns, "infra", url, "main", time.Hour), …)
//	}
//
// Outside tests (benchmarks), Start returns running controllers and Stop ends them. Their logs
// are in Dir/logs, kept when Start fails and, under Main, when a test failed.
package fluxtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tagrelay/tagrelay/internal/kubetest"
	"github.com/tagrelay/tagrelay/internal/peertest"
)

// The controllers, as named in the binary directory and in Dir/logs.
const (
	SourceController       = "source-controller"
	KustomizeController    = "kustomize-controller"
	NotificationController = "notification-controller"
)

// Options configure Start. The zero value is fine.
type Options struct {
	// BinDir holds the controllers and crds/. Default: $TAGRELAY_FLUX_BIN, else the output of
	// `hack/peers.sh bindir flux` (which builds them when missing).
	BinDir string
	// Notification also starts notification-controller (Receivers for webhooks). Default: false.
	Notification bool
	// Args are extra arguments per controller (e.g. "--concurrent=20" for a benchmark).
	Args map[string][]string
}

// Flux is a set of running controllers.
type Flux struct {
	// Cluster is the cluster the controllers reconcile.
	Cluster *kubetest.Cluster
	// Dir holds logs/<controller>.log and source-controller's storage.
	Dir string
	// StorageURL is where source-controller serves artifacts, http://127.0.0.1:PORT.
	StorageURL string
	// ReceiverURL is notification-controller's webhook receiver, http://127.0.0.1:PORT, "" when
	// it was not started.
	ReceiverURL string

	group *peertest.Group
}

// startTimeout bounds Start once the binaries are built.
const startTimeout = 2 * time.Minute

// Start applies Flux's CRDs to c and starts the controllers on free 127.0.0.1 ports. The
// processes outlive ctx; call Stop.
func Start(ctx context.Context, c *kubetest.Cluster, o Options) (f *Flux, err error) {
	want := []string{SourceController, KustomizeController, "crds"}
	if o.Notification {
		want = append(want, NotificationController)
	}
	bin, err := peertest.BinDir(ctx, o.BinDir, "TAGRELAY_FLUX_BIN", "flux", want...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	g, err := peertest.NewGroup("fluxtest")
	if err != nil {
		return nil, err
	}
	f = &Flux{Cluster: c, Dir: g.Dir, group: g}
	defer func() {
		if err != nil {
			err = fmt.Errorf("starting Flux (logs in %s): %w", filepath.Join(g.Dir, "logs"), err)
			_ = g.Stop(true)
		}
	}()
	crds, err := filepath.Glob(filepath.Join(bin, "crds", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if err := peertest.ApplyFiles(ctx, c.RESTConfig(), "", crds...); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(g.Dir, "storage"), 0o700); err != nil {
		return nil, err
	}
	ports, err := peertest.FreePorts(9)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	f.StorageURL = "http://" + addr(0)
	type controller struct {
		name, health string
		args         []string
	}
	run := []controller{
		{SourceController, addr(2), []string{"--storage-path=" + filepath.Join(g.Dir, "storage"),
			"--storage-addr=" + addr(0), "--storage-adv-addr=" + addr(0), "--metrics-addr=" + addr(1)}},
		{KustomizeController, addr(4), []string{"--metrics-addr=" + addr(3)}},
	}
	if o.Notification {
		f.ReceiverURL = "http://" + addr(5)
		run = append(run, controller{NotificationController, addr(8),
			[]string{"--receiverAddr=" + addr(5), "--events-addr=" + addr(6), "--metrics-addr=" + addr(7)}})
	}
	env := []string{"KUBECONFIG=" + c.Kubeconfig}
	procs := make([]*peertest.Process, len(run))
	for i, r := range run {
		// Common flags: one replica (no leader election), human-readable logs.
		args := append([]string{"--enable-leader-election=false", "--log-encoding=console", "--health-addr=" + r.health}, r.args...)
		if procs[i], err = g.Start(r.name, env, filepath.Join(bin, r.name), append(args, o.Args[r.name]...)...); err != nil {
			return nil, err
		}
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for i, p := range procs {
		if err := p.WaitHTTP(ctx, client, "http://"+run[i].health+"/readyz"); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Apply server-side applies objects (GitRepository, Kustomization, …) to the cluster.
func (f *Flux) Apply(ctx context.Context, objs ...*unstructured.Unstructured) error {
	return peertest.Apply(ctx, f.Cluster.RESTConfig(), "", objs...)
}

// Processes returns the running controllers (for their RSS, their logs).
func (f *Flux) Processes() []*peertest.Process { return f.group.Processes() }

// Exited returns an error naming a controller that is no longer running, or nil.
func (f *Flux) Exited() error { return f.group.Exited() }

// Stop stops the controllers and removes Dir. It is safe to call twice.
func (f *Flux) Stop() error { return f.group.Stop(false) }
