// Package filters wraps the API handler with request logging, Prometheus
// metrics and panic recovery.
package filters

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"drover.dev/apiserver/internal/endpoints"
)

// Metrics are the apiserver's request metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests by verb, resource, subresource and HTTP code.",
		}, []string{"verb", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Request latency by verb and resource (watches excluded).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"verb", "resource", "subresource"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Requests being served, watches counted separately.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// statusRecorder remembers the response code and keeps streaming working.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := s.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, fmt.Errorf("hijack not supported")
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WithObservability logs every request and records its metrics; a panic in a
// handler becomes a 500 Status instead of a dropped connection.
func WithObservability(next http.Handler, m *Metrics, lg *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info, isResource := endpoints.RequestInfo(r)
		if !isResource {
			info = endpoints.Info{Verb: r.Method, Resource: r.URL.Path}
		}
		kind := "request"
		if info.Verb == "watch" {
			kind = "watch"
		}
		m.inflight.WithLabelValues(kind).Inc()
		defer func() {
			m.inflight.WithLabelValues(kind).Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				lg.Error("panic serving request", zap.String("path", r.URL.Path), zap.Any("panic", p), zap.Stack("stack"))
				if rec.code == 0 {
					st := apierrors.NewInternalError(fmt.Errorf("panic: %v", p)).ErrStatus
					rec.Header().Set("Content-Type", "application/json")
					rec.WriteHeader(http.StatusInternalServerError)
					_, _ = fmt.Fprintf(rec, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":"InternalError","code":500}`+"\n", st.Message)
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			elapsed := time.Since(start)
			if isResource {
				m.requests.WithLabelValues(info.Verb, info.Resource, info.Subresource, strconv.Itoa(code)).Inc()
				if info.Verb != "watch" {
					m.latency.WithLabelValues(info.Verb, info.Resource, info.Subresource).Observe(elapsed.Seconds())
				}
			}
			lg.Info("request",
				zap.String("verb", info.Verb),
				zap.String("resource", info.Resource),
				zap.String("subresource", info.Subresource),
				zap.String("namespace", info.Namespace),
				zap.String("uri", r.URL.RequestURI()),
				zap.Int("code", code),
				zap.Duration("latency", elapsed),
				zap.String("userAgent", r.UserAgent()))
		}()
		next.ServeHTTP(rec, r)
	})
}
