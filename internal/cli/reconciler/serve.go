package reconciler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tagrelay/tagrelay/internal/clirun"
	"github.com/tagrelay/tagrelay/reconcile"
)

type serveOptions struct {
	cluster       clusterOptions
	listen        string
	interval      time.Duration
	tokenFile     string
	gitlabHook    string
	githubHook    string
	leaderElect   string
	lease         reconcile.LeaderElection
	advertiseURL  string
	drainTimeout  time.Duration
	tlsCert       string
	tlsKey        string
	peerCAFile    string
	metricsListen string
	pprofListen   string
	sessionKey    string
	secureCookies bool
	driftInterval time.Duration
	// driftIntervalSet: --drift-interval or its variable was given (it then wins over apps.yaml)
	driftIntervalSet bool
	gitlabURL        string
	gitlabAud        string
	gitlabCAFile     string
	notify           notifyOptions
	maxSyncs         int
	maxSource        string
	watchConfig      bool
	pruneRemoved     bool
}

func newServeCommand(env *clirun.Env) *cli.Command {
	o := &serveOptions{}
	flags := []cli.Flag{
		&cli.StringFlag{Name: "listen", Value: ":8080", Usage: "`ADDR` of the web console (/), the HTTP API, the webhooks, /healthz and /readyz (and /metrics, admin token only, without --metrics-listen)", EnvVars: []string{"TAGRELAY_LISTEN"}, Destination: &o.listen},
		&cli.DurationFlag{Name: "interval", Value: 3 * time.Minute, Usage: "how often to check each app's repository (ls-remote; a sync only for a new commit); negative disables", EnvVars: []string{"TAGRELAY_INTERVAL"}, Destination: &o.interval},
		&cli.StringFlag{Name: "token-file", Usage: "`FILE` holding the admin bearer token of the API (project tokens: projects: in --config)", EnvVars: []string{"TAGRELAY_TOKEN_FILE"}, Destination: &o.tokenFile, TakesFile: true},
		&cli.StringFlag{Name: "gitlab-webhook-secret-file", Usage: "`FILE` holding the secret token of GitLab push webhooks (X-Gitlab-Token); unset: GitLab webhooks off", EnvVars: []string{"TAGRELAY_GITLAB_WEBHOOK_SECRET_FILE"}, Destination: &o.gitlabHook, TakesFile: true},
		&cli.StringFlag{Name: "github-webhook-secret-file", Usage: "`FILE` holding the secret of GitHub push webhooks (HMAC); unset: GitHub webhooks off", EnvVars: []string{"TAGRELAY_GITHUB_WEBHOOK_SECRET_FILE"}, Destination: &o.githubHook, TakesFile: true},
		&cli.StringFlag{Name: "leader-elect", Value: "auto", Usage: "elect a leader among replicas with a Lease: true, false, or auto (true in a cluster)", EnvVars: []string{"TAGRELAY_LEADER_ELECT"}, Destination: &o.leaderElect},
		&cli.StringFlag{Name: "lease-name", Value: "tagrelay-reconciler", Usage: "`NAME` of the leader Lease in --namespace", EnvVars: []string{"TAGRELAY_LEASE_NAME"}, Destination: &o.lease.LeaseName},
		&cli.DurationFlag{Name: "lease-duration", Value: 15 * time.Second, Usage: "how long followers wait after the leader's last renewal before taking over", EnvVars: []string{"TAGRELAY_LEASE_DURATION"}, Destination: &o.lease.LeaseDuration},
		&cli.DurationFlag{Name: "lease-renew-deadline", Value: 10 * time.Second, Usage: "how long the leader retries a renewal before it stops leading (and its syncs)", EnvVars: []string{"TAGRELAY_LEASE_RENEW_DEADLINE"}, Destination: &o.lease.RenewDeadline},
		&cli.DurationFlag{Name: "lease-retry-period", Value: 2 * time.Second, Usage: "pace of the renewals and of the followers' tries", EnvVars: []string{"TAGRELAY_LEASE_RETRY_PERIOD"}, Destination: &o.lease.RetryPeriod},
		&cli.StringFlag{Name: "advertise-url", Usage: "`URL` the other replicas forward requests to while this one leads (default: http(s)://$POD_IP:PORT, else the --listen host or the hostname)", EnvVars: []string{"TAGRELAY_ADVERTISE_URL"}, Destination: &o.advertiseURL},
		&cli.DurationFlag{Name: "drain-timeout", Value: 30 * time.Second, Usage: "on SIGTERM, how long running syncs may finish before they are stopped; the lease is released after", EnvVars: []string{"TAGRELAY_DRAIN_TIMEOUT"}, Destination: &o.drainTimeout},
		&cli.StringFlag{Name: "tls-cert", Usage: "PEM `FILE` of the HTTPS certificate (chain); read again when it changes", EnvVars: []string{"TAGRELAY_TLS_CERT"}, Destination: &o.tlsCert, TakesFile: true},
		&cli.StringFlag{Name: "tls-key", Usage: "PEM `FILE` of the HTTPS key; read again when it changes", EnvVars: []string{"TAGRELAY_TLS_KEY"}, Destination: &o.tlsKey, TakesFile: true},
		&cli.StringFlag{Name: "peer-ca-file", Usage: "PEM `FILE` of the CA that signed the replicas' certificates, to forward to the leader over HTTPS (default: the --tls-cert chain)", EnvVars: []string{"TAGRELAY_PEER_CA_FILE"}, Destination: &o.peerCAFile, TakesFile: true},
		&cli.StringFlag{Name: "metrics-listen", Usage: "`ADDR` serving /metrics alone (not on --listen), without a token", EnvVars: []string{"TAGRELAY_METRICS_LISTEN"}, Destination: &o.metricsListen},
		&cli.StringFlag{Name: "pprof-listen", Usage: "`ADDR` serving Go's runtime profiles (/debug/pprof/: heap, goroutine, profile, trace) alone, without a token: keep it on 127.0.0.1 and reach it with kubectl port-forward", EnvVars: []string{"TAGRELAY_PPROF_LISTEN"}, Destination: &o.pprofListen},
		&cli.StringFlag{Name: "session-key-file", Usage: "`FILE` holding the key (32 bytes or more) that signs the console's sessions; every replica needs the same (default: random per process: a restart or a new leader ends every session)", EnvVars: []string{"TAGRELAY_SESSION_KEY_FILE"}, Destination: &o.sessionKey, TakesFile: true},
		&cli.BoolFlag{Name: "secure-cookies", Usage: "mark the console's cookies Secure on every request (behind a proxy that terminates TLS; with --tls-cert they are)", EnvVars: []string{"TAGRELAY_SECURE_COOKIES"}, Destination: &o.secureCookies},
		&cli.DurationFlag{Name: "drift-interval", Value: 10 * time.Minute, Usage: "how often the holder of each app's shard dry-runs its sync to mark drift (OutOfSync, nothing applied; spread over the interval, two at a time, through the sync pool); 0 disables; wins over driftInterval in --config", EnvVars: []string{"TAGRELAY_DRIFT_INTERVAL"}, Destination: &o.driftInterval},
		&cli.StringFlag{Name: "gitlab-url", Usage: "GitLab `URL` whose CI id_tokens (JWT) the API accepts (the issuer; projects map them with gitlabProjects)", EnvVars: []string{"TAGRELAY_GITLAB_URL"}, Destination: &o.gitlabURL},
		&cli.StringFlag{Name: "gitlab-audience", Usage: "`AUD` the id_tokens must carry (their aud in .gitlab-ci.yml)", EnvVars: []string{"TAGRELAY_GITLAB_AUDIENCE"}, Destination: &o.gitlabAud},
		&cli.StringFlag{Name: "gitlab-ca-file", Usage: "PEM `FILE` of CAs to trust for --gitlab-url", EnvVars: []string{"TAGRELAY_GITLAB_CA_FILE"}, Destination: &o.gitlabCAFile, TakesFile: true},
		&cli.IntFlag{Name: "max-concurrent-syncs", Value: reconcile.DefaultMaxConcurrentSyncs, Usage: "`N` syncs that fetch, render and apply at once over all apps (health waits do not count); the default fits a 512 MiB memory limit", EnvVars: []string{"TAGRELAY_MAX_CONCURRENT_SYNCS"}, Destination: &o.maxSyncs},
		&cli.IntFlag{Name: "shards", Value: 1, Usage: "`N` shards the apps are hashed onto (by repository), each held by one replica through its own Lease; replicas share them evenly (with --leader-elect)", EnvVars: []string{"TAGRELAY_SHARDS"}, Destination: &o.lease.Shards},
		&cli.StringFlag{Name: "max-source-bytes", Value: "8Mi", Usage: "`SIZE` of the files one sync reads from its commit (its path and what it refers to); more fails that sync (exit 2)", EnvVars: []string{"TAGRELAY_MAX_SOURCE_BYTES"}, Destination: &o.maxSource},
		&cli.BoolFlag{Name: "watch-config", Value: true, Usage: "read --config, its generators and token files again when they change (and git generators every --interval): apps and projects come and go without a restart", EnvVars: []string{"TAGRELAY_WATCH_CONFIG"}, Destination: &o.watchConfig},
		&cli.BoolFlag{Name: "prune-removed-apps", Usage: "delete the objects of an app removed from --config (default: they stay; a generator says prune: true for its own apps)", EnvVars: []string{"TAGRELAY_PRUNE_REMOVED_APPS"}, Destination: &o.pruneRemoved},
	}
	return &cli.Command{
		Name:  "serve",
		Usage: "poll the apps and serve the web console, the API (sync, rollback, status) and webhooks; replicas elect a leader",
		UsageText: "tagrelay-reconciler serve --config apps.yaml --token-file /etc/tagrelay/api-token\n" +
			"curl -H \"Authorization: Bearer $TOKEN\" -d '{\"expectImage\":\"team/web:1a2b3c4d\",\"wait\":true}' http://reconciler:8080/api/v1/apps/web/sync",
		Description: "Every replica is ready and answers the API and the console (log in at / with the admin token or a project token);\n" +
			"writes, webhooks and the console's app pages go to the replica holding the app's shard (its URL is in the shard's Lease).\n" +
			"With --shards N the apps are hashed onto N shards by repository; each replica holds about N/replicas of them and takes over those of a replica that dies.\n" +
			"On SIGTERM a replica stops polling, lets running syncs finish (--drain-timeout), then releases its Leases.",
		Flags: append(append(flags, notifyFlags(&o.notify)...), clusterFlags(&o.cluster)...),
		Action: func(c *cli.Context) error {
			o.driftIntervalSet = c.IsSet("drift-interval")
			return runServe(c.Context, env, o)
		},
	}
}

func runServe(ctx context.Context, env *clirun.Env, o *serveOptions) error {
	opts, err := o.serverOptions(env)
	if err != nil {
		return err
	}
	if err := o.notify.check(); err != nil {
		return err
	}
	elect, err := o.elect(env)
	if err != nil {
		return err
	}
	if o.cluster.source.MaxBytes, err = parseSize("--max-source-bytes", o.maxSource); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(o.pprofListen); o.pprofListen != "" && err != nil {
		return clirun.Usagef("pass --pprof-listen 127.0.0.1:6060", "invalid --pprof-listen %q: %v", o.pprofListen, err)
	}
	if o.lease.Shards < 1 || o.lease.Shards > reconcile.MaxShards {
		return clirun.Usagef(fmt.Sprintf("pass --shards 1 to %d", reconcile.MaxShards), "invalid --shards %d", o.lease.Shards)
	}
	if o.maxSyncs < 1 || o.maxSyncs > 1024 {
		return clirun.Usagef("pass --max-concurrent-syncs 1 to 1024", "invalid --max-concurrent-syncs %d", o.maxSyncs)
	}
	if o.lease.Shards > 1 && !elect {
		return clirun.Usagef("pass --leader-elect true with --shards (replicas share shards through Leases)", "--shards %d without leader election", o.lease.Shards)
	}
	_, r, log, err := o.cluster.setup(env)
	if err != nil {
		return err
	}
	source := &reconcile.ConfigSource{File: o.cluster.config, Getenv: env.Getenv, Secrets: env.Redactor.Add, PruneRemoved: o.pruneRemoved,
		Namespace: o.cluster.namespace}
	cfg, warnings, err := source.Load()
	if err != nil {
		return err
	}
	if warnings != nil {
		log.Error("apps left out; the others run", "error", warnings)
	}
	if o.watchConfig {
		opts.Config = source
	}
	opts.Logger = log
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return clirun.Usagef("pass a free --listen address", "listening on %s: %v", o.listen, err)
	}
	if elect {
		opts.LeaderElection = &o.lease
		if opts.AdvertiseURL == "" {
			opts.AdvertiseURL = advertiseURL(env, ln.Addr().(*net.TCPAddr), o.tlsCert != "")
		}
	}
	s, err := reconcile.NewServer(r, cfg, opts)
	if err != nil {
		ln.Close()
		return err
	}
	defer o.notify.start(r, s, log)()
	log.Info("starting", "identity", s.Identity(), "apps", len(cfg.Apps), "projects", len(cfg.Projects), "leader-election", elect,
		"shards", max(o.lease.Shards, 1), "max-concurrent-syncs", o.maxSyncs)
	if elect && o.sessionKey == "" {
		log.Warn("no --session-key-file: each replica signs console sessions with a key of its own, so a login holds until the lead moves (deploy/ mounts one key from a Secret)")
	}
	return o.serve(ctx, s, ln, log)
}

// serve runs the listeners and the server's work; on SIGTERM the server drains (and releases
// the Lease) before the listeners shut down, so triggers still get their answers.
func (o *serveOptions) serve(ctx context.Context, s *reconcile.Server, ln net.Listener, log *slog.Logger) error {
	handler := s.Handler()
	if o.metricsListen == "" {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		mux.Handle("GET /metrics", s.AdminOnly(s.MetricsHandler()))
		handler = mux
	}
	hs, err := s.HTTPServer(handler)
	if err != nil {
		ln.Close()
		return err
	}
	servers := []*http.Server{hs}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(hs, ln) })
	if o.metricsListen != "" {
		mln, err := net.Listen("tcp", o.metricsListen)
		if err != nil {
			ln.Close()
			return clirun.Usagef("pass a free --metrics-listen address", "listening on %s: %v", o.metricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.MetricsHandler())
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		servers = append(servers, ms)
		g.Go(func() error { return serveHTTP(ms, mln) })
		log.Info("serving metrics", "addr", mln.Addr().String())
	}
	if o.pprofListen != "" {
		pln, err := net.Listen("tcp", o.pprofListen)
		if err != nil {
			ln.Close()
			return clirun.Usagef("pass a free --pprof-listen address", "listening on %s: %v", o.pprofListen, err)
		}
		ps := &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, ps)
		g.Go(func() error { return serveHTTP(ps, pln) })
		if ip, ok := pln.Addr().(*net.TCPAddr); ok && !ip.IP.IsLoopback() {
			log.Warn("serving profiles beyond this host, without a token", "addr", pln.Addr().String())
		}
		log.Info("serving profiles", "addr", pln.Addr().String())
	}
	log.Info("serving", "addr", ln.Addr().String(), "tls", o.tlsCert != "", "identity", s.Identity())
	g.Go(func() error {
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
			defer cancel()
			for _, srv := range servers {
				_ = srv.Shutdown(sctx)
			}
		}()
		return s.Run(gctx)
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // SIGTERM: a clean stop
	}
	return err
}

func serveHTTP(hs *http.Server, ln net.Listener) error {
	var err error
	if hs.TLSConfig != nil {
		err = hs.ServeTLS(ln, "", "")
	} else {
		err = hs.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serverOptions reads the secrets and the TLS and GitLab settings.
func (o *serveOptions) serverOptions(env *clirun.Env) (reconcile.ServerOptions, error) {
	if o.tokenFile == "" {
		return reconcile.ServerOptions{}, clirun.Usagef("pass --token-file FILE (the admin token of the API)", "no API token")
	}
	token, err := env.Secret("", o.tokenFile)
	if err != nil {
		return reconcile.ServerOptions{}, err
	}
	gitlabHook, err := env.Secret("", o.gitlabHook)
	if err != nil {
		return reconcile.ServerOptions{}, err
	}
	githubHook, err := env.Secret("", o.githubHook)
	if err != nil {
		return reconcile.ServerOptions{}, err
	}
	if gitlabHook != "" && gitlabHook == githubHook {
		return reconcile.ServerOptions{}, clirun.Usagef("give each forge its own secret: GitLab sends its token in clear, GitHub's is an HMAC key",
			"--gitlab-webhook-secret-file and --github-webhook-secret-file hold the same secret")
	}
	opts := reconcile.ServerOptions{Token: token, Interval: o.interval, GitLabWebhookSecret: gitlabHook, GitHubWebhookSecret: githubHook,
		AdvertiseURL: o.advertiseURL, DrainTimeout: o.drainTimeout, MaxConcurrentSyncs: o.maxSyncs,
		HTTP:    reconcile.HTTPOptions{TLSCertFile: o.tlsCert, TLSKeyFile: o.tlsKey},
		Console: reconcile.ConsoleOptions{SecureCookies: o.secureCookies}}
	switch {
	case !o.driftIntervalSet: // the apps file's driftInterval, else the default
	case o.driftInterval <= 0:
		opts.Console.DriftInterval = -1 // 0 disables on the command line; the library's 0 is its default
	default:
		opts.Console.DriftInterval = o.driftInterval
	}
	if o.sessionKey != "" {
		key, err := env.Secret("", o.sessionKey)
		if err != nil {
			return opts, err
		}
		if len(key) < 32 {
			return opts, clirun.Usagef("write 32 random bytes or more into it: head -c 48 /dev/urandom | base64 > FILE",
				"--session-key-file holds %d bytes, fewer than 32", len(key))
		}
		opts.Console.SessionKey = []byte(key)
	}
	if o.tlsCert != "" {
		if opts.PeerTransport, err = peerTransport(o.tlsCert, o.peerCAFile); err != nil {
			return opts, err
		}
	}
	if o.gitlabURL != "" {
		if o.gitlabAud == "" {
			return opts, clirun.Usagef("pass --gitlab-audience (the aud of the pipelines' id_tokens)", "--gitlab-url without --gitlab-audience")
		}
		client, err := caClient(o.gitlabCAFile)
		if err != nil {
			return opts, err
		}
		opts.GitLab = &reconcile.GitLabOIDC{URL: o.gitlabURL, Audience: o.gitlabAud, HTTPClient: client}
	}
	return opts, nil
}

// advertiseURL is where the other replicas reach this one: the pod's IP in a cluster, else the
// --listen host, else the hostname; with the bound port.
func advertiseURL(env *clirun.Env, addr *net.TCPAddr, tls bool) string {
	host := env.Getenv("POD_IP")
	if host == "" && !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// peerTransport trusts the CA of the replicas' certificates (or the --tls-cert chain itself)
// and checks the leader's certificate against the first DNS name of this replica's: they
// share one certificate, issued for the Service, not for pod IPs.
func peerTransport(certFile, caFile string) (http.RoundTripper, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, clirun.Usagef("check --tls-cert", "reading %s: %v", certFile, err)
	}
	flag := "--peer-ca-file"
	if caFile == "" {
		caFile, flag = certFile, "--tls-cert"
	}
	tr, err := trusting(caFile, flag)
	if err != nil {
		return nil, err
	}
	if block, _ := pem.Decode(certPEM); block != nil {
		if leaf, err := x509.ParseCertificate(block.Bytes); err == nil && len(leaf.DNSNames) > 0 {
			tr.TLSClientConfig.ServerName = leaf.DNSNames[0]
		}
	}
	return tr, nil
}

// caClient is an HTTP client trusting the system CAs and those of caFile.
func caClient(caFile string) (*http.Client, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	if caFile == "" {
		return client, nil
	}
	tr, err := trusting(caFile, "--gitlab-ca-file")
	if err != nil {
		return nil, err
	}
	client.Transport = tr
	return client, nil
}

// trusting is a transport trusting the system CAs and those in caFile (given by flag).
func trusting(caFile, flag string) (*http.Transport, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, clirun.Usagef("check "+flag, "reading %s: %v", caFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, clirun.Usagef("pass a PEM file to "+flag, "no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// elect resolves --leader-elect: auto means in a cluster (KUBERNETES_SERVICE_HOST is set).
func (o *serveOptions) elect(env *clirun.Env) (bool, error) {
	switch o.leaderElect {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "auto", "":
		return env.Getenv("KUBERNETES_SERVICE_HOST") != "", nil
	}
	return false, clirun.Usagef("use --leader-elect true, false or auto", "invalid --leader-elect %q", o.leaderElect)
}

// parseSize reads a size flag: bytes, or a Kubernetes quantity ("8Mi", "64M").
func parseSize(flag, v string) (int64, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil || q.Sign() <= 0 {
		return 0, clirun.Usagef("pass a size such as 8Mi or 16777216", "invalid %s %q", flag, v)
	}
	return q.Value(), nil
}

// pprofMux serves net/http/pprof's handlers (not /cmdline: the process's argv is no one's
// business, even without secrets in it).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
