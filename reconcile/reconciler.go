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

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tagrelay/tagrelay/reconcile/render"
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
	// Limits are the defaults of the apps' limits (from flags); the config's win. Default: the
	// built-in defaults (Limits.WithDefaults).
	Limits Limits
	// RenderIsolation runs Helm templates in a worker process (see render.Isolation).
	// Default: nil, in-process.
	RenderIsolation *render.Isolation
	// Identity names this process in the leader Lease, the logs and the history (Result.Replica).
	// Default: NewIdentity().
	Identity string
	// Notifier is told when the syncs of apps with a notify: section start and end
	// (notify_hook.go). Default: nil, nobody.
	Notifier Notifier
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
	o.Limits = o.Limits.WithDefaults()
}

// Reconciler syncs apps into one cluster. It keeps its clients and discovery cache between
// syncs and is safe for concurrent use by syncs of different apps.
type Reconciler struct {
	rest   *rest.Config
	dyn    dynamic.Interface
	meta   metadata.Interface // metadata-only reads (drift_versions.go)
	cs     kubernetes.Interface
	disc   discovery.CachedDiscoveryInterface
	mapper meta.ResettableRESTMapper
	git    *fetcher
	opts   Options
	log    *slog.Logger

	capsMu sync.Mutex
	caps   render.Capabilities
	// capsVersion and capsAPIs record which half of caps was read; a failed read is retried.
	capsVersion, capsAPIs bool
	nsReady               atomic.Bool // the namespace exists (see ensureNamespace)
	watches               watches     // the informers health waits read (wait_informer.go)

	// tenancyOff lets objects the tenancy guard refuses through to the API server. Only tests
	// set it (export_test.go), to prove that the generated RBAC alone holds the line.
	tenancyOff bool
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
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	return &Reconciler{
		rest: cfg, dyn: dyn, meta: mc, cs: cs, disc: disc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(disc),
		git:    newFetcher(opts.CacheDir, time.Duration(opts.Limits.GitTimeout), opts.Source),
		opts:   opts,
		log:    opts.Logger.With("replica", opts.Identity),
	}, nil
}

// Identity returns the identity of this process (Options.Identity).
func (r *Reconciler) Identity() string { return r.opts.Identity }

// capabilities reads the cluster's version and API versions, for Helm templates; only Helm
// apps ask for them. What was read is kept; what failed (Helm's defaults meanwhile) is read
// again by the next call.
func (r *Reconciler) capabilities() *render.Capabilities {
	r.capsMu.Lock()
	defer r.capsMu.Unlock()
	if !r.capsVersion {
		if v, err := r.disc.ServerVersion(); err == nil {
			r.capsVersion = true
			r.caps.KubeVersion = v.GitVersion
		}
	}
	if !r.capsAPIs {
		vs, err := apiVersions(r.disc)
		if len(vs) > 0 {
			r.caps.APIVersions = vs // what was served, even when some group failed
		}
		r.capsAPIs = err == nil

	}
	caps := r.caps
	return &caps
}

// apiVersions lists what .Capabilities.APIVersions holds: every served group version
// ("apps/v1") and kind in it ("apps/v1/Deployment"), like Helm's action.GetVersionSet.
func apiVersions(disc discovery.DiscoveryInterface) ([]string, error) {
	_, lists, err := disc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, l := range lists {
		add(l.GroupVersion)
		for _, res := range l.APIResources {
			if res.Kind != "" {
				add(l.GroupVersion + "/" + res.Kind)
			}
		}
	}
	return out, err
}
