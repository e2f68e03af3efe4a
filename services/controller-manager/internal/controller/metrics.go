package controller

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

var (
	syncTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "controller_sync_total", Help: "Syncs per controller and result.",
	}, []string{"controller", "result"})
	syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "controller_sync_duration_seconds", Help: "Time one sync took.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	}, []string{"controller"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "workqueue_depth", Help: "Current depth of a workqueue.",
	}, []string{"name"})
	queueAdds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workqueue_adds_total", Help: "Adds handled by a workqueue.",
	}, []string{"name"})
	queueRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workqueue_retries_total", Help: "Rate-limited re-adds of a workqueue.",
	}, []string{"name"})
	queueLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "workqueue_queue_duration_seconds", Help: "How long an item waits in a workqueue.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	}, []string{"name"})
	queueWork = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "workqueue_work_duration_seconds", Help: "How long processing an item takes.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	}, []string{"name"})
	providerOnce sync.Once
)

func observeSync(name string, start time.Time, err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	syncTotal.WithLabelValues(name, result).Inc()
	syncDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

// RegisterMetrics adds the controller and workqueue metrics to reg. It may be
// called for several registries (one per in-process test server).
func RegisterMetrics(reg prometheus.Registerer) error {
	providerOnce.Do(func() { workqueue.SetProvider(queueMetrics{}) })
	for _, c := range []prometheus.Collector{syncTotal, syncDuration, queueDepth, queueAdds, queueRetries, queueLatency, queueWork} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

type queueMetrics struct{}

func (queueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return queueDepth.WithLabelValues(name)
}
func (queueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return queueAdds.WithLabelValues(name)
}
func (queueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return queueLatency.WithLabelValues(name)
}
func (queueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return queueWork.WithLabelValues(name)
}
func (queueMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopGauge{}
}
func (queueMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopGauge{}
}
func (queueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return queueRetries.WithLabelValues(name)
}

type noopGauge struct{}

func (noopGauge) Set(float64) {}
