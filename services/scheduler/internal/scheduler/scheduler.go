// Package scheduler is the scheduling loop: it keeps the cache and queue
// fed from informers, pops one pod at a time, runs its profile's plugins
// against a snapshot, assumes the decision and binds asynchronously.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/tools/record"

	"drover.dev/scheduler/internal/apis/config"
	"drover.dev/scheduler/internal/cache"
	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/metrics"
	"drover.dev/scheduler/internal/queue"
)

// ErrUnknownProfile is returned for a pod whose schedulerName has no profile.
var ErrUnknownProfile = errors.New("scheduler: no profile for the pod's schedulerName")

// minFeasibleNodesToFind and minFeasibleNodesPercentageToFind are
// Kubernetes' floors for percentageOfNodesToScore.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// Scheduler places pending pods.
type Scheduler struct {
	lg        *zap.Logger
	client    kubernetes.Interface
	Cache     *cache.Cache
	Queue     *queue.PriorityQueue
	snapshot  *cache.Snapshot
	Profiles  map[string]*framework.Framework
	recorders map[string]record.EventRecorder
	metrics   *metrics.Metrics
	podLister corelisters.PodLister
	// priorityClasses resolve priorityClassName when spec.priority is unset.
	priorityClasses schedulinglisters.PriorityClassLister

	percentageOfNodesToScore int32
	nextStartNodeIndex       int
	// feasibleBuf is reused by every cycle (cycles run one at a time).
	feasibleBuf []*framework.NodeInfo
	rejectedBuf []*framework.Status
	broadcaster record.EventBroadcaster
	// inFlightBindings counts binding goroutines (tests, shutdown).
	inFlightBindings atomic.Int64
	// bindingSlots bounds the binding goroutines: when the apiserver is
	// slower than the scheduling loop, thousands of them (each with its
	// stack and request buffers) would otherwise pile up and set the
	// process's peak memory; the loop waits instead.
	bindingSlots chan struct{}
}

// maxInFlightBindings is enough for thousands of bindings per second at
// the apiserver's usual latency.
const maxInFlightBindings = 256

// Options configure New.
type Options struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	Config    *config.Configuration
	Registry  framework.Registry
	Defaults  []framework.DefaultPlugin
	Metrics   *metrics.Metrics
	Logger    *zap.Logger
}

// New builds the scheduler and registers its informer handlers; start the
// informer factory afterwards.
func New(o Options) (*Scheduler, error) {
	lg := o.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New(nil)
	}
	events := map[string][]framework.ClusterEvent{}
	q := queue.New(queue.Options{
		InitialBackoff:   time.Duration(o.Config.PodInitialBackoffSeconds) * time.Second,
		MaxBackoff:       time.Duration(o.Config.PodMaxBackoffSeconds) * time.Second,
		EventsToRegister: events,
	})
	s := &Scheduler{
		lg:                       lg,
		client:                   o.Client,
		Cache:                    cache.New(),
		Queue:                    q,
		snapshot:                 cache.NewEmptySnapshot(),
		Profiles:                 map[string]*framework.Framework{},
		recorders:                map[string]record.EventRecorder{},
		metrics:                  o.Metrics,
		percentageOfNodesToScore: *o.Config.PercentageOfNodesToScore,
		bindingSlots:             make(chan struct{}, maxInFlightBindings),
	}
	s.broadcaster = record.NewBroadcaster()
	for i := range o.Config.Profiles {
		p := &o.Config.Profiles[i]
		s.recorders[p.SchedulerName] = s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: p.SchedulerName})
		fwk, err := framework.New(o.Registry, o.Defaults, p, framework.Options{
			Snapshot:      s.snapshot,
			Client:        o.Client,
			Informers:     o.Informers,
			Logger:        lg.With(zap.String("profile", p.SchedulerName)),
			Parallelism:   int(o.Config.Parallelism),
			Nominator:     q,
			EventRecorder: s.recorders[p.SchedulerName],
		})
		if err != nil {
			return nil, fmt.Errorf("scheduler: profile %q: %w", p.SchedulerName, err)
		}
		s.Profiles[p.SchedulerName] = fwk
		for name, evs := range fwk.EventsToRegister() {
			events[name] = append(events[name], evs...)
		}
	}
	if o.Informers != nil {
		s.podLister = o.Informers.Core().V1().Pods().Lister()
		s.priorityClasses = o.Informers.Scheduling().V1().PriorityClasses().Lister()
		if err := s.addEventHandlers(o.Informers); err != nil {
			return nil, err
		}
	}
	// Depth gauges are refreshed on every scrape-independent tick in Run.
	return s, nil
}

// Run schedules until ctx ends. Informers must be synced before.
func (s *Scheduler) Run(ctx context.Context) {
	if s.client != nil {
		w := s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		defer w.Stop()
	}
	s.Queue.Run(ctx)
	go s.reportDepths(ctx)
	for ctx.Err() == nil {
		s.ScheduleOne(ctx)
	}
	// Let in-flight bindings finish (they use ctx and end quickly).
	deadline := time.Now().Add(5 * time.Second)
	for s.inFlightBindings.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Scheduler) reportDepths(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		d := s.Queue.Depths()
		s.metrics.PendingPods.WithLabelValues("active").Set(float64(d.Active))
		s.metrics.PendingPods.WithLabelValues("backoff").Set(float64(d.Backoff))
		s.metrics.PendingPods.WithLabelValues("unschedulable").Set(float64(d.Unschedulable))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) numFeasibleNodesToFind(profilePct *int32, numAllNodes int) int {
	if numAllNodes < minFeasibleNodesToFind {
		return numAllNodes
	}
	pct := s.percentageOfNodesToScore
	if profilePct != nil {
		pct = *profilePct
	}
	if pct == 0 {
		pct = int32(50 - numAllNodes/125)
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	n := numAllNodes * int(pct) / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// selectHost picks the highest total; ties are broken uniformly at random.
func selectHost(nodes []*framework.NodeInfo, scores []int64) string {
	best := 0
	ties := 1
	for i := 1; i < len(nodes); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Node().Name
}
