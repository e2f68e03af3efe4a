// Package metrics holds drover-dns' Prometheus metrics. Label children are
// resolved once so that counting a query costs a few atomic adds.
package metrics

import (
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Answer sources, the label of the latency histogram.
const (
	SourceZone    = "zone"
	SourceCache   = "cache"
	SourceForward = "forward"
	SourceError   = "error"
)

var countedTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeTXT, dns.TypeCNAME,
	dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeANY, dns.TypeHINFO}

// Metrics are the DNS server's metrics. A nil *Metrics counts nothing.
type Metrics struct {
	requests       map[string]map[uint16]prometheus.Counter // proto → type
	requestsOther  map[string]prometheus.Counter
	responses      [dns.RcodeBadCookie + 1]prometheus.Counter
	responsesOther prometheus.Counter
	duration       map[string]prometheus.Observer
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	upstreamErrors *prometheus.CounterVec
	loops          *prometheus.CounterVec
}

// New registers the metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_dns_requests_total", Help: "DNS queries received, by transport and query type.",
	}, []string{"proto", "type"})
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_dns_responses_total", Help: "DNS responses sent, by response code.",
	}, []string{"rcode"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "drover_dns_request_duration_seconds", Help: "Time to answer a query, by where the answer came from (zone, cache, forward, error).",
		Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"source"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_dns_cache_requests_total", Help: "Lookups of the forwarding cache, by result (hit, miss).",
	}, []string{"result"})
	m := &Metrics{
		requests:      map[string]map[uint16]prometheus.Counter{},
		requestsOther: map[string]prometheus.Counter{},
		duration:      map[string]prometheus.Observer{},
		cacheHits:     cache.WithLabelValues("hit"),
		cacheMisses:   cache.WithLabelValues("miss"),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_dns_upstream_errors_total", Help: "Failed exchanges with an upstream server (timeouts, network errors).",
		}, []string{"upstream"}),
		loops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_dns_upstream_loops_total", Help: "Upstream servers found to forward queries back to this server (then not used).",
		}, []string{"upstream"}),
	}
	for _, proto := range []string{"udp", "tcp"} {
		m.requests[proto] = map[uint16]prometheus.Counter{}
		for _, t := range countedTypes {
			m.requests[proto][t] = requests.WithLabelValues(proto, dns.TypeToString[t])
		}
		m.requestsOther[proto] = requests.WithLabelValues(proto, "other")
	}
	for rc := range m.responses {
		if s, ok := dns.RcodeToString[rc]; ok {
			m.responses[rc] = responses.WithLabelValues(s)
		}
	}
	m.responsesOther = responses.WithLabelValues("other")
	for _, s := range []string{SourceZone, SourceCache, SourceForward, SourceError} {
		m.duration[s] = duration.WithLabelValues(s)
	}
	reg.MustRegister(requests, responses, duration, cache, m.upstreamErrors, m.loops)
	return m
}

// Request counts a query.
func (m *Metrics) Request(proto string, qtype uint16) {
	if m == nil {
		return
	}
	byType, ok := m.requests[proto]
	if !ok {
		return
	}
	if c, ok := byType[qtype]; ok {
		c.Inc()
		return
	}
	m.requestsOther[proto].Inc()
}

// Response counts a response and its latency.
func (m *Metrics) Response(rcode int, source string, took time.Duration) {
	if m == nil {
		return
	}
	if rcode >= 0 && rcode < len(m.responses) && m.responses[rcode] != nil {
		m.responses[rcode].Inc()
	} else {
		m.responsesOther.Inc()
	}
	if o, ok := m.duration[source]; ok {
		o.Observe(took.Seconds())
	}
}

// CacheHit counts a forwarding cache lookup.
func (m *Metrics) CacheHit(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHits.Inc()
	} else {
		m.cacheMisses.Inc()
	}
}

// UpstreamError counts a failed exchange with upstream.
func (m *Metrics) UpstreamError(upstream string) {
	if m == nil {
		return
	}
	m.upstreamErrors.WithLabelValues(upstream).Inc()
}

// Loop counts an upstream found looping back.
func (m *Metrics) Loop(upstream string) {
	if m == nil {
		return
	}
	m.loops.WithLabelValues(upstream).Inc()
}

// GaugeFunc registers a gauge read from fn at scrape time.
func GaugeFunc(reg prometheus.Registerer, name, help string, fn func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}
