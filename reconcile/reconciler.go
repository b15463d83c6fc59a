package reconcile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Options configure a Reconciler. They come from flags; DefaultOptions fills the defaults.
type Options struct {
	// Namespace holds the apps' inventories and histories. Default: tagrelay-system.
	Namespace string
	// CacheDir keeps one bare git repository per remote, so fetches are incremental.
	// Default: "" (in memory, nothing kept between syncs).
	CacheDir string
	// Jobs bounds the API requests in flight during a sync. Default: 16.
	Jobs int
	// HistoryLimit is how many syncs each app's history keeps. Default: 50.
	HistoryLimit int
	// PollInterval is how often the wait phase re-reads workloads. Default: 500ms.
	PollInterval time.Duration
	// Logger receives progress at debug level and warnings. Default: discard.
	Logger *slog.Logger
	// Identity names this process in the leader Lease, the logs and the history (Result.Replica).
	// Default: NewIdentity().
	Identity string
	// Source bounds what one sync reads from its commit (source_tree.go). Default: 8 MiB, 5,000
	// files.
	Source SourceLimits
}

// NewIdentity returns the hostname and a random suffix, as client-go's leader election examples
// build theirs: unique per process, so two processes on one host (local runs, hostNetwork pods
// on one node) never both believe they hold a Lease.
func NewIdentity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tagrelay-reconciler"
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Namespace: "tagrelay-system", Jobs: 16, HistoryLimit: 50, PollInterval: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
}

func (o *Options) fill() {
	d := DefaultOptions()
	if o.Namespace == "" {
		o.Namespace = d.Namespace
	}
	if o.Jobs <= 0 {
		o.Jobs = d.Jobs
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = d.HistoryLimit
	}
	if o.PollInterval <= 0 {
		o.PollInterval = d.PollInterval
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	if o.Identity == "" {
		o.Identity = NewIdentity()
	}
}

// Reconciler syncs apps into one cluster. It keeps its clients and discovery cache between
// syncs and is safe for concurrent use by syncs of different apps.
type Reconciler struct {
	rest   *rest.Config
	dyn    dynamic.Interface
	cs     kubernetes.Interface
	disc   discovery.CachedDiscoveryInterface
	mapper meta.ResettableRESTMapper
	git    *fetcher
	opts   Options
	log    *slog.Logger

	capsMu sync.Mutex
	caps   capabilities
	// capsVersion and capsAPIs record which half of caps was read; a failed read is retried.
	capsVersion, capsAPIs bool
	nsReady               atomic.Bool // the namespace exists (see ensureNamespace)
	watches               watches     // the informers health waits read (wait_informer.go)
}

// New returns a Reconciler for the cluster of cfg. A rate limit left at client-go's default
// (5 QPS) is raised: a sync issues a few requests per object.
func New(cfg *rest.Config, opts Options) (*Reconciler, error) {
	opts.fill()
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS, cfg.Burst = 200, 400
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	return &Reconciler{
		rest: cfg, dyn: dyn, cs: cs, disc: disc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(disc),
		git:    &fetcher{dir: opts.CacheDir, limits: opts.Source},
		opts:   opts,
		log:    opts.Logger.With("replica", opts.Identity),
	}, nil
}

// Identity returns the identity of this process (Options.Identity).
func (r *Reconciler) Identity() string { return r.opts.Identity }

// capabilities reads the cluster's version and API versions, for Helm templates; only Helm
// apps ask for them. What was read is kept; what failed (Helm's defaults meanwhile) is read
// again by the next call.
func (r *Reconciler) capabilities() capabilities {
	r.capsMu.Lock()
	defer r.capsMu.Unlock()
	if !r.capsVersion {
		if v, err := r.disc.ServerVersion(); err == nil {
			// A version Helm cannot parse will not parse better later: keep the default.
			r.capsVersion = true
			if kv, err := chartutil.ParseKubeVersion(v.GitVersion); err == nil {
				r.caps.kubeVersion = kv
			}
		}
	}
	if !r.capsAPIs {
		if vs, err := action.GetVersionSet(r.disc); err == nil {
			r.capsAPIs = true
			r.caps.apiVersions = vs
		}
	}
	return r.caps
}
