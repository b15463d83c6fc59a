package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagrelay/tagrelay/internal/forge"
	"github.com/tagrelay/tagrelay/internal/redact"
	"github.com/tagrelay/tagrelay/reconcile/api"
)

// Options configure a Notifier. The zero value is valid.
type Options struct {
	// ConsoleURL is the console's root URL; each status links to ConsoleURL/apps/APP. Default:
	// none (statuses without a link).
	ConsoleURL string
	// Queue bounds the notifications waiting to be sent; past it, new ones are dropped (and
	// counted), never waited for. Default 1024.
	Queue int
	// Workers send in parallel; the notifications of one app go through one worker, in order.
	// Default 4.
	Workers int
	// Timeout bounds one notification (its forge calls and their retries). Default 30s.
	Timeout time.Duration
	// Retry is the retry policy of every call (forge.Retry's defaults: 4 attempts, 500 ms
	// doubling to 10 s).
	Retry forge.Retry
	// Logger receives the failures (warn) and deliveries (debug). Default: discard.
	Logger *slog.Logger
	// OnDelivery, when set, is called after each notification with its outcome.
	OnDelivery func(Delivery)
}

// Delivery is the outcome of one notification of one target.
type Delivery struct {
	App    string
	Target string // gitlab, github, webhook, chat
	State  State
	// Err is nil when it was sent. Its text carries no secret.
	Err error
}

// Notifier sends the results of syncs to forges, webhooks and chats, in the background: a bounded
// queue, a few workers, a deadline per notification. Nothing it does blocks or fails a sync: a
// full queue drops, a failure is logged and counted (Collectors). It is safe for concurrent use.
type Notifier struct {
	opts    Options
	log     *slog.Logger
	secrets *redact.Redactor

	mu      sync.RWMutex // guards closed and the queues' closing
	closed  bool
	queues  []chan job
	pending sync.WaitGroup // queued and running notifications
	workers sync.WaitGroup

	clientsMu sync.Mutex
	clients   map[string]*http.Client // CA file → client

	deliveries *prometheus.CounterVec
	depth      prometheus.Gauge
}

// job is one notification of one target.
type job struct {
	ev     Event
	target target
}

// target is one destination of a notification.
type target interface {
	name() string
	send(ctx context.Context, n *Notifier, ev Event) error
}

// New returns a Notifier with its workers running; Close stops them.
func New(opts Options) *Notifier {
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{opts: opts, log: opts.Logger, secrets: redact.New(), clients: map[string]*http.Client{},
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_notifications_total",
			Help: "Notifications of sync results by target (gitlab, github, webhook, chat) and result (sent, failed, dropped)."},
			[]string{"target", "result"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_notification_queue",
			Help: "Notifications waiting to be sent."}),
	}
	per := max(opts.Queue/opts.Workers, 1)
	for i := 0; i < opts.Workers; i++ {
		q := make(chan job, per)
		n.queues = append(n.queues, q)
		n.workers.Add(1)
		go n.work(q)
	}
	return n
}

// Collectors are the Notifier's Prometheus series, for the server's registry.
func (n *Notifier) Collectors() []prometheus.Collector {
	return []prometheus.Collector{n.deliveries, n.depth}
}

// Started tells that a sync of res.App applies: a pending status on its app commits. Call it once
// the sync passed its guards (SyncOptions.OnApplied).
func (n *Notifier) Started(cfg *Config, res api.SyncResult) {
	n.Send(Event{App: res.App, Config: cfg, State: Pending, Result: res})
}

// Finished tells how a sync ended: success or failure (with d, the failed objects, for the merge
// request note). Dry runs and refused no-ops are not told.
func (n *Notifier) Finished(cfg *Config, res api.SyncResult, d *Diagnosis) {
	if st, ok := stateOf(res); ok {
		n.Send(Event{App: res.App, Config: cfg, State: st, Result: res, Diagnosis: d})
	}
}

// Send queues ev for each target of ev.Config that takes it. It never blocks: when the queue is
// full, or the Notifier closed, the notification is dropped and counted.
func (n *Notifier) Send(ev Event) {
	if ev.Config == nil {
		return
	}
	for _, t := range targets(ev) {
		n.enqueue(job{ev: ev, target: t})
	}
}

func (n *Notifier) enqueue(j job) {
	h := fnv.New32a()
	h.Write([]byte(j.ev.App))
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.closed {
		n.pending.Add(1)
		select {
		case n.queues[h.Sum32()%uint32(len(n.queues))] <- j:
			n.depth.Inc()
			return
		default:
			n.pending.Done()
		}
	}
	n.deliveries.WithLabelValues(j.target.name(), "dropped").Inc()
	n.log.Warn("notification dropped: the queue is full", "app", j.ev.App, "target", j.target.name(), "state", j.ev.State)
	n.report(Delivery{App: j.ev.App, Target: j.target.name(), State: j.ev.State, Err: errors.New("dropped: the notification queue is full")})
}

func (n *Notifier) work(q chan job) {
	defer n.workers.Done()
	for j := range q {
		n.depth.Dec()
		n.deliver(j)
		n.pending.Done()
	}
}

// deliver sends one notification within its deadline and records the outcome.
func (n *Notifier) deliver(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.Timeout)
	defer cancel()
	err := j.target.send(ctx, n, j.ev)
	d := Delivery{App: j.ev.App, Target: j.target.name(), State: j.ev.State}
	if err != nil {
		d.Err = errors.New(n.secrets.String(redact.URL(err.Error())))
		n.deliveries.WithLabelValues(d.Target, "failed").Inc()
		n.log.Warn("notification failed; the deploy goes on", "app", d.App, "target", d.Target, "state", d.State, "error", d.Err.Error())
	} else {
		n.deliveries.WithLabelValues(d.Target, "sent").Inc()
		n.log.Debug("notification sent", "app", d.App, "target", d.Target, "state", d.State)
	}
	n.report(d)
}

func (n *Notifier) report(d Delivery) {
	if n.opts.OnDelivery != nil {
		n.opts.OnDelivery(d)
	}
}

// Flush waits until every queued notification was sent (or failed), or ctx ends.
func (n *Notifier) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { n.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking notifications and waits for the queued ones until ctx ends; those still
// queued then are abandoned.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, q := range n.queues {
			close(q)
		}
	}
	n.mu.Unlock()
	return n.Flush(ctx)
}

// targets are the destinations of ev that take it.
func targets(ev Event) []target {
	c := ev.Config
	var out []target
	forgeEvent := len(ev.Result.AppCommits) > 0
	if c.GitLab != nil && forgeEvent {
		out = append(out, gitlabTarget{c.GitLab})
	}
	if c.GitHub != nil && forgeEvent {
		out = append(out, githubTarget{c.GitHub})
	}
	if c.Webhook != nil && wants(c.Webhook.On, ev.State, Pending, Success, Failure) {
		out = append(out, webhookTarget{c.Webhook})
	}
	if c.Chat != nil && wants(c.Chat.On, ev.State, Success, Failure) {
		out = append(out, chatTarget{c.Chat})
	}
	return out
}

// secret reads a secret file and registers its value for redaction.
func (n *Notifier) secret(what, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("the %s file %s is empty", what, file)
	}
	n.secrets.Add(v)
	return v, nil
}

// httpClient returns the client for servers under the extra CAs of caFile ("" for the system's
// only), one per file, with the retry policy around its transport for plain HTTP targets (the
// forge clients add their own).
func (n *Notifier) httpClient(caFile string) (*http.Client, error) {
	n.clientsMu.Lock()
	defer n.clientsMu.Unlock()
	if c, ok := n.clients[caFile]; ok {
		return c, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := &http.Client{Transport: limitTransport{next: tr, max: maxResponse}, Timeout: n.opts.Timeout}
	n.clients[caFile] = c
	return c, nil
}

// forgeAccess reads the token of a forge (what names it in errors) and returns it with the
// options of its client: the CA's HTTP client, the retry policy, the log.
func (n *Notifier) forgeAccess(what, tokenFile, caFile string) (string, []forge.Option, error) {
	token, err := n.secret(what, tokenFile)
	if err != nil {
		return "", nil, err
	}
	c, err := n.httpClient(caFile)
	if err != nil {
		return "", nil, err
	}
	return token, []forge.Option{forge.WithHTTPClient(c), forge.WithRetry(n.opts.Retry), forge.WithLogger(n.log)}, nil
}
