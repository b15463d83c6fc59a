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
			Help: "Repository polls by app and result (unchanged, changed, error)."}, []string{"app", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tagrelay_reconciler_api_requests_total",
			Help: "Sync API answers by HTTP status code."}, []string{"code"}),
	}
	m.registry.MustRegister(m.syncs, m.duration, m.lastSuccess, m.polls, m.requests,
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
