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
			Help: "Requests this replica forwarded to the leader."}),
	}
	m.registry.MustRegister(m.syncs, m.duration, m.lastSuccess, m.polls, m.requests, m.webhooks, m.leader, m.forwarded,
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
