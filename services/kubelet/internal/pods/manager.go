// Package pods runs the pods bound to a node: one worker per pod drives the
// runtime towards the pod's spec (sandbox, init containers in order, app
// containers, restarts with back-off, graceful termination) and reports
// the pod's status. The logic is the same for every runtime.
package pods

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"drover.dev/kubelet/internal/runtime"
	"drover.dev/kubelet/internal/status"
)

// DNS is the cluster DNS settings pods' resolv.conf is written from.
type DNS struct {
	// ClusterDNS are the cluster DNS server IPs (e.g. 10.96.0.10).
	ClusterDNS []string
	// ClusterDomain is e.g. cluster.local.
	ClusterDomain string
	// HostResolvConf is the node's resolv.conf (Default policy and hostNetwork).
	HostResolvConf string
}

// Options wire a Manager.
type Options struct {
	Client   kubernetes.Interface
	Runtime  runtime.Runtime
	Images   runtime.ImageService
	Status   *status.Manager
	Recorder record.EventRecorder
	NodeName string
	// HostIP returns the node's InternalIP.
	HostIP func() string
	// PodCIDRReady reports whether pods needing a pod IP can start.
	PodCIDRReady func() bool
	DNS          DNS
	// Services returns the services whose env vars a pod in ns gets (nil: none).
	Services func(ns string) []*v1.Service
	// Resync is how often the runtime is relisted to find containers that
	// changed (Kubernetes' PLEG relist); changed pods' workers wake up.
	Resync time.Duration
	// PeriodicSync is how often a worker syncs its pod without a change.
	PeriodicSync time.Duration
	Logger       *zap.Logger
}

// Manager owns the pod workers.
type Manager struct {
	o        Options
	lg       *zap.Logger
	restarts *backoff
	pulls    *backoff
	mu       sync.Mutex
	workers  map[types.UID]*worker
	ctx      context.Context
	wg       sync.WaitGroup
	// seen is each pod's runtime fingerprint at the last relist.
	seen map[string]string
}

// NewManager returns a manager; Start begins its housekeeping.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Resync == 0 {
		o.Resync = time.Second
	}
	if o.PeriodicSync == 0 {
		o.PeriodicSync = 10 * time.Second
	}
	if o.PodCIDRReady == nil {
		o.PodCIDRReady = func() bool { return true }
	}
	if o.HostIP == nil {
		o.HostIP = func() string { return "" }
	}
	return &Manager{
		o: o, lg: o.Logger,
		restarts: newBackoff(backoffInitial, backoffMax),
		pulls:    newBackoff(backoffInitial, backoffMax),
		workers:  map[types.UID]*worker{},
	}
}

// Start sets the context workers run in and starts relisting; call it
// before Update.
func (m *Manager) Start(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.o.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.relist(ctx)
			}
		}
	}()
}

// relist reads the whole runtime once and wakes the workers of pods whose
// sandboxes or containers changed (exits, restarts), so that workers need
// not poll the runtime each on their own.
func (m *Manager) relist(ctx context.Context) {
	sbs, err := m.o.Runtime.ListPodSandboxes(ctx)
	if err != nil {
		m.lg.Debug("relist: sandboxes", zap.Error(err))
		return
	}
	cs, err := m.o.Runtime.ListContainers(ctx, "")
	if err != nil {
		m.lg.Debug("relist: containers", zap.Error(err))
		return
	}
	podOf := map[string]string{}
	now := map[string]string{}
	for _, sb := range sbs {
		podOf[sb.ID] = sb.PodUID
		now[sb.PodUID] += sb.ID + ":" + string(sb.State) + ";"
	}
	for _, c := range cs {
		uid := podOf[c.SandboxID]
		now[uid] += c.ID + ":" + string(c.State) + ";"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for uid, fp := range now {
		if m.seen[uid] != fp {
			if w, ok := m.workers[types.UID(uid)]; ok {
				w.poke()
			}
		}
	}
	m.seen = now
}

// SetServices sets where service-link env vars come from.
func (m *Manager) SetServices(f func(ns string) []*v1.Service) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.o.Services = f
}

// Wait blocks until every worker has ended (after the context is done).
func (m *Manager) Wait() { m.wg.Wait() }

// Update hands the latest version of a pod bound to this node to its worker.
func (m *Manager) Update(pod *v1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	w, ok := m.workers[pod.UID]
	if !ok {
		w = newWorker(m, pod)
		m.workers[pod.UID] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.run(m.ctx)
			m.mu.Lock()
			if m.workers[pod.UID] == w {
				delete(m.workers, pod.UID)
			}
			m.mu.Unlock()
		}()
		return
	}
	w.update(pod, false)
}

// Remove tells the worker its pod is gone from the apiserver: everything
// of it is killed and removed.
func (m *Manager) Remove(pod *v1.Pod) {
	m.mu.Lock()
	w, ok := m.workers[pod.UID]
	m.mu.Unlock()
	if ok {
		w.update(pod, true)
	}
}

// Known reports whether uid has a worker.
func (m *Manager) Known(uid types.UID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.workers[uid]
	return ok
}

// Running returns the pods that have workers (the kubelet's /pods).
func (m *Manager) Running() []*v1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*v1.Pod, 0, len(m.workers))
	for _, w := range m.workers {
		p, _ := w.current()
		out = append(out, p)
	}
	return out
}

// CleanupOrphans removes sandboxes of pods the kubelet no longer has
// (deleted while it was down). Call it after the pod informer synced.
func (m *Manager) CleanupOrphans(ctx context.Context) {
	sbs, err := m.o.Runtime.ListPodSandboxes(ctx)
	if err != nil {
		m.lg.Warn("failed to list sandboxes", zap.Error(err))
		return
	}
	for _, sb := range sbs {
		if m.Known(types.UID(sb.PodUID)) {
			continue
		}
		m.lg.Info("removing orphaned sandbox", zap.String("pod", sb.Namespace+"/"+sb.Name), zap.String("sandbox", sb.ID))
		m.killSandbox(ctx, sb.ID, 2*time.Second)
		if err := m.o.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil {
			m.lg.Warn("failed to remove sandbox", zap.String("sandbox", sb.ID), zap.Error(err))
		}
	}
}

// killSandbox stops a sandbox's running containers with grace, then it.
func (m *Manager) killSandbox(ctx context.Context, sandboxID string, grace time.Duration) {
	cs, err := m.o.Runtime.ListContainers(ctx, sandboxID)
	if err != nil {
		m.lg.Warn("failed to list containers", zap.String("sandbox", sandboxID), zap.Error(err))
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		if c.State != runtime.ContainerRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.o.Runtime.StopContainer(ctx, c.ID, grace); err != nil {
				m.lg.Warn("failed to stop container", zap.String("container", c.ID), zap.Error(err))
			}
		}()
	}
	wg.Wait()
	if err := m.o.Runtime.StopPodSandbox(ctx, sandboxID); err != nil {
		m.lg.Warn("failed to stop sandbox", zap.String("sandbox", sandboxID), zap.Error(err))
	}
}

// worker drives one pod.
type worker struct {
	m       *Manager
	mu      sync.Mutex
	pod     *v1.Pod
	removed bool
	wake    chan struct{}
	// waiting holds per-container reasons the runtime cannot tell
	// (ErrImagePull, CreateContainerConfigError, ...).
	waiting   map[string]*v1.ContainerStateWaiting
	startTime *time.Time
}

func newWorker(m *Manager, pod *v1.Pod) *worker {
	return &worker{m: m, pod: pod, wake: make(chan struct{}, 1), waiting: map[string]*v1.ContainerStateWaiting{}}
}

func (w *worker) update(pod *v1.Pod, removed bool) {
	w.mu.Lock()
	w.pod = pod
	w.removed = w.removed || removed
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// poke wakes the worker for a sync.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) current() (*v1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.removed
}

func (w *worker) run(ctx context.Context) {
	for {
		next, done := w.sync(ctx)
		if done {
			return
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
			t.Stop()
		case <-t.C:
		}
	}
}
