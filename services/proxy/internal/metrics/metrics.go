// Package metrics defines drover-proxy's Prometheus metrics.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are registered once per proxy.
type Metrics struct {
	SyncDuration       *prometheus.HistogramVec
	SyncErrors         prometheus.Counter
	LastSync           prometheus.Gauge
	Objects            *prometheus.GaugeVec
	ProgrammingLatency prometheus.Histogram
	Routes             prometheus.Gauge
	RouteErrors        prometheus.Counter
	ConntrackDeleted   prometheus.Counter
}

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "drover_proxy_sync_duration_seconds", Help: "Time to program the nftables table, by sync mode (full or partial).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"mode"}),
		SyncErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_proxy_sync_errors_total", Help: "Failed syncs."}),
		LastSync:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "drover_proxy_last_sync_timestamp_seconds", Help: "When the last successful sync ended."}),
		Objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drover_proxy_nftables_objects", Help: "Objects in the drover table: chains, rules, elements (map and set), services.",
		}, []string{"family", "kind"}),
		ProgrammingLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "drover_proxy_network_programming_duration_seconds", Help: "From an endpoint change to its rules being in the kernel.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		Routes:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "drover_proxy_routes", Help: "host-gw routes to other nodes' pod CIDRs."}),
		RouteErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_proxy_route_errors_total", Help: "Failed route updates."}),
		ConntrackDeleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_proxy_conntrack_deleted_total", Help: "Stale UDP conntrack entries deleted."}),
	}
	reg.MustRegister(m.SyncDuration, m.SyncErrors, m.LastSync, m.Objects, m.ProgrammingLatency, m.Routes, m.RouteErrors, m.ConntrackDeleted)
	return m
}
