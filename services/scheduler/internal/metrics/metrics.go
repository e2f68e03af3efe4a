// Package metrics holds the scheduler's Prometheus metrics, named as
// kube-scheduler names them where one exists.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Attempt results.
const (
	ResultScheduled     = "scheduled"
	ResultUnschedulable = "unschedulable"
	ResultError         = "error"
)

// Metrics are the scheduler's instruments.
type Metrics struct {
	// ScheduleAttempts counts attempts by result and profile.
	ScheduleAttempts *prometheus.CounterVec
	// AttemptDuration is one attempt, from pop to bound (or failure).
	AttemptDuration *prometheus.HistogramVec
	// E2EDuration is from the pod's first entry in the queue to bound.
	E2EDuration *prometheus.HistogramVec
	// AlgorithmDuration is the scheduling cycle alone (filter+score).
	AlgorithmDuration prometheus.Histogram
	// PreemptionAttempts and PreemptionVictims describe preemption.
	PreemptionAttempts prometheus.Counter
	PreemptionVictims  prometheus.Histogram
	// PendingPods is set from the queue depths by a collector.
	PendingPods *prometheus.GaugeVec
}

// New registers the metrics on reg (nil: not registered, for tests).
func New(reg prometheus.Registerer) *Metrics {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16) // 1ms .. ~32s
	m := &Metrics{
		ScheduleAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result.",
		}, []string{"result", "profile"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_scheduling_attempt_duration_seconds",
			Help:    "Scheduling attempt latency in seconds (scheduling algorithm + binding).",
			Buckets: buckets,
		}, []string{"result", "profile"}),
		E2EDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scheduler_e2e_scheduling_duration_seconds",
			Help:    "E2e scheduling latency in seconds: from the pod entering the queue to its binding.",
			Buckets: buckets,
		}, []string{"result", "profile"}),
		AlgorithmDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scheduler_scheduling_algorithm_duration_seconds",
			Help:    "Scheduling algorithm latency in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		PreemptionAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_preemption_attempts_total",
			Help: "Total preemption attempts in the cluster till now.",
		}),
		PreemptionVictims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scheduler_preemption_victims",
			Help:    "Number of selected preemption victims.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 7),
		}),
		PendingPods: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scheduler_pending_pods",
			Help: "Number of pending pods, by the queue type.",
		}, []string{"queue"}),
	}
	if reg != nil {
		reg.MustRegister(m.ScheduleAttempts, m.AttemptDuration, m.E2EDuration, m.AlgorithmDuration,
			m.PreemptionAttempts, m.PreemptionVictims, m.PendingPods)
	}
	return m
}
