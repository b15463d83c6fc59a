package reconcile

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, in a registry of their own.
type metrics struct {
	registry    *prometheus.Registry
	syncs       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	polls       *prometheus.CounterVec
	requests    *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	leader      prometheus.Gauge
	forwarded   prometheus.Counter
	shards      prometheus.Gauge
	members     prometheus.Gauge
	apps        prometheus.Gauge
	listings    prometheus.Counter
	poolSize    prometheus.Gauge
	poolUsed    prometheus.Gauge
	poolQueued  prometheus.Gauge
	reloads     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_syncs_total",
			Help: "Syncs by app, trigger (cli, api, poll) and status (Succeeded, NoopRefused, Refused, Failed)."},
			[]string{"app", "trigger", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tagrelay_reconciler_sync_duration_seconds",
			Help: "Duration of syncs, health wait included.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 12)},
			[]string{"app"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tagrelay_reconciler_last_success_timestamp_seconds",
			Help: "When the app last synced successfully."}, []string{"app"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_polls_total",
			Help: "Repository polls by app and result (unchanged, pinned, changed, error)."}, []string{"app", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_api_requests_total",
			Help: "API answers by HTTP status code (syncs, refusals, 401, 403, 404, 503)."}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_webhooks_total",
			Help: "Webhook deliveries by forge and result (matched, unmatched, unauthorized, too_large)."}, []string{"forge", "result"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_leader",
			Help: "1 while this replica leads (polls and syncs), else 0."}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "tagrelay_reconciler_forwarded_requests_total",
			Help: "Requests this replica forwarded to the holder of the app's shard."}),
		shards: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_shards_held",
			Help: "Shards of the apps this replica holds."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_members",
			Help: "Replicas sharing the shards, as this one counts them."}),
		apps: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_apps",
			Help: "Apps in the config."}),
		listings: prometheus.NewCounter(prometheus.CounterOpts{Name: "tagrelay_reconciler_repository_polls_total",
			Help: "Polls of a repository (one git ls-remote for all its apps)."}),
		poolSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_sync_pool_size",
			Help: "Syncs that may fetch, render and apply at once (--max-concurrent-syncs)."}),
		poolUsed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_sync_pool_used",
			Help: "Syncs fetching, rendering or applying now."}),
		poolQueued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tagrelay_reconciler_sync_pool_queued",
			Help: "Syncs waiting for a slot of the pool."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_config_reloads_total",
			Help: "Reloads of the config by source (file, dir, git) and result (ok, error)."}, []string{"source", "result"}),
	}
	m.registry.MustRegister(m.syncs, m.duration, m.lastSuccess, m.polls, m.requests, m.webhooks, m.leader, m.forwarded,
		m.shards, m.members, m.apps, m.listings, m.poolSize, m.poolUsed, m.poolQueued, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(res *Result) {
	m.syncs.WithLabelValues(res.App, res.Trigger, string(res.Status)).Inc()
	m.duration.WithLabelValues(res.App).Observe(time.Duration(res.Duration).Seconds())
	if res.ExitCode == 0 {
		m.lastSuccess.WithLabelValues(res.App).Set(float64(time.Now().Unix()))
	}
}
