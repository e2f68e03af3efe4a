// Package status sends pod statuses to the apiserver: the pod workers set
// the latest status of each pod, and the manager patches it in the
// background, coalescing updates and retrying failures, so a slow
// apiserver never blocks a worker and the newest status always lands.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Manager holds the desired status of every pod and sends it.
type Manager struct {
	client kubernetes.Interface
	lg     *zap.Logger

	mu    sync.Mutex
	pods  map[types.UID]*entry
	dirty map[types.UID]bool
	wake  chan struct{}
}

type entry struct {
	namespace, name string
	// static pods' statuses go to their mirror pod, whose uid differs.
	static        bool
	status        v1.PodStatus
	version, sent uint64
	sentAt        time.Time
	done          []chan error // waiting for this version to land
	doneVersion   uint64
}

// New returns a manager; Run sends.
func New(client kubernetes.Interface, lg *zap.Logger) *Manager {
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Manager{client: client, lg: lg, pods: map[types.UID]*entry{}, dirty: map[types.UID]bool{}, wake: make(chan struct{}, 1)}
}

// Set records pod's latest status; unchanged statuses are not sent again.
func (m *Manager) Set(pod *v1.Pod, st v1.PodStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.pods[pod.UID]
	if !ok {
		e = &entry{namespace: pod.Namespace, name: pod.Name, static: pod.Annotations["kubernetes.io/config.source"] == "file"}
		m.pods[pod.UID] = e
	} else if apiequality.Semantic.DeepEqual(e.status, st) {
		return
	}
	e.status = *st.DeepCopy()
	e.version++
	m.dirty[pod.UID] = true
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Get returns the last status set for uid.
func (m *Manager) Get(uid types.UID) (v1.PodStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.pods[uid]
	if !ok {
		return v1.PodStatus{}, false
	}
	return *e.status.DeepCopy(), true
}

// Flush waits until the last status set for uid has been sent.
func (m *Manager) Flush(ctx context.Context, uid types.UID) error {
	m.mu.Lock()
	e, ok := m.pods[uid]
	if !ok || e.sent == e.version {
		m.mu.Unlock()
		return nil
	}
	ch := make(chan error, 1)
	e.done = append(e.done, ch)
	m.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Forget drops a pod that is gone.
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.pods[uid]; ok {
		for _, ch := range e.done {
			ch <- nil
		}
	}
	delete(m.pods, uid)
	delete(m.dirty, uid)
}

// Run sends statuses with workers goroutines until ctx ends.
func (m *Manager) Run(ctx context.Context, workers int) {
	work := make(chan types.UID)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for uid := range work {
				m.send(ctx, uid)
			}
		}()
	}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return
		case <-m.wake:
		case <-retry.C:
		}
		m.mu.Lock()
		uids := make([]types.UID, 0, len(m.dirty))
		for uid := range m.dirty {
			uids = append(uids, uid)
			delete(m.dirty, uid)
		}
		m.mu.Unlock()
		for _, uid := range uids {
			select {
			case work <- uid:
			case <-ctx.Done():
			}
		}
	}
}

func (m *Manager) send(ctx context.Context, uid types.UID) {
	m.mu.Lock()
	e, ok := m.pods[uid]
	if !ok {
		m.mu.Unlock()
		return
	}
	version, st, ns, name := e.version, *e.status.DeepCopy(), e.namespace, e.name
	precondition := uid
	if e.static {
		precondition = ""
	}
	m.mu.Unlock()

	err := m.patch(ctx, precondition, ns, name, st)
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok = m.pods[uid]
	if !ok {
		return
	}
	// A static pod's mirror may not exist yet: keep its status until it does.
	retry := err != nil && e.static && apierrors.IsNotFound(err)
	if retry || err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && !apierrors.IsInvalid(err) {
		// Gone, replaced by a same-named pod (uid differs) or refused: retrying cannot help.
		m.lg.Warn("failed to update pod status", zap.String("pod", ns+"/"+name), zap.Error(err))
		m.dirty[uid] = true // retried on the next tick
		return
	}
	if e.sent < version {
		e.sent = version
	}
	if e.sent == e.version {
		for _, ch := range e.done {
			ch <- err
		}
		e.done = nil
	}
}

// patch merges the status in; the uid in the patch makes it fail with a
// conflict if a same-named pod replaced ours.
func (m *Manager) patch(ctx context.Context, uid types.UID, ns, name string, st v1.PodStatus) error {
	p := map[string]any{"status": st}
	if uid != "" {
		p["metadata"] = map[string]any{"uid": uid}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("status: encode: %w", err)
	}
	_, err = m.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}
