// Package queue is the scheduling queue: an active heap ordered by priority
// then arrival, a back-off heap for pods that failed recently, and a set of
// unschedulable pods that go back to work when a cluster event could help
// them. It also remembers which pods are nominated to which node.
package queue

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
)

// ErrClosed is returned by Pop after Close.
var ErrClosed = errors.New("queue: closed")

// unschedulableTimeout is how long a pod may stay unschedulable without an
// event before it is retried anyway (Kubernetes' default).
const unschedulableTimeout = 5 * time.Minute

// QueuedPodInfo is a pod in the queue with its attempt history.
type QueuedPodInfo struct {
	*framework.PodInfo
	// Timestamp is when the pod last entered the queue.
	Timestamp time.Time
	// InitialAttemptTimestamp is the first time it was popped.
	InitialAttemptTimestamp *time.Time
	Attempts                int
	// UnschedulablePlugins rejected the pod in its last attempt.
	UnschedulablePlugins map[string]struct{}
	// Added is when the pod first entered the queue (e2e latency).
	Added         time.Time
	backoffExpiry time.Time
	index         int
}

// Key is namespace/name.
func key(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

type podHeap struct {
	items []*QueuedPodInfo
	less  func(a, b *QueuedPodInfo) bool
	byKey map[string]*QueuedPodInfo
}

func newHeap(less func(a, b *QueuedPodInfo) bool) *podHeap {
	return &podHeap{less: less, byKey: map[string]*QueuedPodInfo{}}
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}
func (h *podHeap) Push(x any) {
	q := x.(*QueuedPodInfo)
	q.index = len(h.items)
	h.items = append(h.items, q)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	q := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	return q
}

func (h *podHeap) add(q *QueuedPodInfo) {
	k := key(q.Pod)
	if old, ok := h.byKey[k]; ok {
		q.index = old.index
		h.items[old.index] = q
		h.byKey[k] = q
		heap.Fix(h, q.index)
		return
	}
	h.byKey[k] = q
	heap.Push(h, q)
}

func (h *podHeap) get(k string) *QueuedPodInfo { return h.byKey[k] }

func (h *podHeap) remove(k string) *QueuedPodInfo {
	q, ok := h.byKey[k]
	if !ok {
		return nil
	}
	delete(h.byKey, k)
	heap.Remove(h, q.index)
	return q
}

func (h *podHeap) peek() *QueuedPodInfo {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *podHeap) pop() *QueuedPodInfo {
	q := heap.Pop(h).(*QueuedPodInfo)
	delete(h.byKey, key(q.Pod))
	return q
}

// Options tune the queue.
type Options struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// EventsToRegister maps plugin names to the events that may help pods
	// they rejected (union over profiles).
	EventsToRegister map[string][]framework.ClusterEvent
	Now              func() time.Time
}

// PriorityQueue is the scheduling queue.
type PriorityQueue struct {
	mu   sync.Mutex
	cond *sync.Cond
	opts Options

	active        *podHeap
	backoff       *podHeap
	unschedulable map[string]*QueuedPodInfo

	// schedulingCycle counts pops; moveRequestCycle is the cycle of the
	// last move request. A pod that failed in a cycle older than a move
	// request may have missed the event that helps it, so it goes to
	// back-off instead of unschedulable.
	schedulingCycle  int64
	moveRequestCycle int64

	nominated      map[string][]*framework.PodInfo
	nominatedByUID map[types.UID]string
	// nominatedNodes is len(nominated), read without the lock: Filter asks
	// for every node of every cycle and there is rarely any nomination.
	nominatedNodes atomic.Int64
	closed         bool
}

// New returns an empty queue.
func New(opts Options) *PriorityQueue {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	q := &PriorityQueue{
		opts: opts,
		active: newHeap(func(a, b *QueuedPodInfo) bool {
			pa, pb := framework.PodPriority(a.Pod), framework.PodPriority(b.Pod)
			return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
		}),
		backoff:          newHeap(func(a, b *QueuedPodInfo) bool { return a.backoffExpiry.Before(b.backoffExpiry) }),
		unschedulable:    map[string]*QueuedPodInfo{},
		nominated:        map[string][]*framework.PodInfo{},
		nominatedByUID:   map[types.UID]string{},
		moveRequestCycle: -1,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Run flushes the back-off heap every second and long-unschedulable pods
// every 30 seconds until ctx ends.
func (q *PriorityQueue) Run(ctx context.Context) {
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				q.Close()
				return
			case <-t.C:
				q.flushBackoff()
				if n++; n%30 == 0 {
					q.flushUnschedulableLeftover()
				}
			}
		}
	}()
}

// Close wakes Pop callers with ErrClosed.
func (q *PriorityQueue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Add queues a new pending pod.
func (q *PriorityQueue) Add(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(pod)
	now := q.opts.Now()
	qi := &QueuedPodInfo{PodInfo: framework.NewPodInfo(pod), Timestamp: now, Added: now}
	if old := q.backoff.remove(k); old != nil {
		qi = old
		qi.PodInfo.Update(pod)
	} else if old, ok := q.unschedulable[k]; ok {
		delete(q.unschedulable, k)
		qi = old
		qi.PodInfo.Update(pod)
	} else if old := q.active.get(k); old != nil {
		qi = old
		qi.PodInfo.Update(pod)
	}
	q.active.add(qi)
	q.addNominatedLocked(qi.PodInfo, pod.Status.NominatedNodeName)
	q.cond.Broadcast()
}

// Update replaces a pending pod; a changed spec or labels gives it a new try.
func (q *PriorityQueue) Update(oldPod, newPod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(newPod)
	if qi := q.active.get(k); qi != nil {
		qi.PodInfo.Update(newPod)
		q.active.add(qi)
		q.updateNominatedLocked(qi.PodInfo, newPod)
		return
	}
	if qi := q.backoff.get(k); qi != nil {
		qi.PodInfo.Update(newPod)
		q.backoff.add(qi)
		q.updateNominatedLocked(qi.PodInfo, newPod)
		return
	}
	if qi, ok := q.unschedulable[k]; ok {
		qi.PodInfo.Update(newPod)
		q.updateNominatedLocked(qi.PodInfo, newPod)
		if isPodUpdated(oldPod, newPod) {
			delete(q.unschedulable, k)
			if q.isBackingOff(qi) {
				q.backoff.add(qi)
			} else {
				q.active.add(qi)
				q.cond.Broadcast()
			}
		}
		return
	}
	// Not queued (being scheduled right now, or new to us): add.
	now := q.opts.Now()
	qi := &QueuedPodInfo{PodInfo: framework.NewPodInfo(newPod), Timestamp: now, Added: now}
	q.active.add(qi)
	q.addNominatedLocked(qi.PodInfo, newPod.Status.NominatedNodeName)
	q.cond.Broadcast()
}

// isPodUpdated ignores status and resourceVersion changes, which our own
// condition updates cause.
func isPodUpdated(oldPod, newPod *v1.Pod) bool {
	if oldPod == nil {
		return true
	}
	if oldPod.Generation != newPod.Generation {
		return true
	}
	if len(oldPod.Labels) != len(newPod.Labels) {
		return true
	}
	for k, v := range oldPod.Labels {
		if newPod.Labels[k] != v {
			return true
		}
	}
	return false
}

// Delete forgets a pod.
func (q *PriorityQueue) Delete(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(pod)
	q.active.remove(k)
	q.backoff.remove(k)
	delete(q.unschedulable, k)
	q.deleteNominatedLocked(pod)
}

// Pop blocks until a pod is active.
func (q *PriorityQueue) Pop(ctx context.Context) (*QueuedPodInfo, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed || ctx.Err() != nil {
			return nil, ErrClosed
		}
		q.cond.Wait()
	}
	qi := q.active.pop()
	qi.Attempts++
	q.schedulingCycle++
	if qi.InitialAttemptTimestamp == nil {
		now := q.opts.Now()
		qi.InitialAttemptTimestamp = &now
	}
	return qi, nil
}

// SchedulingCycle is the current cycle number.
func (q *PriorityQueue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// AddUnschedulableIfNotPresent puts back a pod that failed in cycle
// podCycle: to back-off if an event may have helped it meanwhile or it
// failed with an error, otherwise to unschedulable.
func (q *PriorityQueue) AddUnschedulableIfNotPresent(qi *QueuedPodInfo, podCycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := key(qi.Pod)
	if q.active.get(k) != nil || q.backoff.get(k) != nil {
		return
	}
	if _, ok := q.unschedulable[k]; ok {
		return
	}
	qi.Timestamp = q.opts.Now()
	qi.backoffExpiry = qi.Timestamp.Add(q.backoffDuration(qi))
	if q.moveRequestCycle >= podCycle || len(qi.UnschedulablePlugins) == 0 {
		q.backoff.add(qi)
	} else {
		q.unschedulable[k] = qi
	}
	q.addNominatedLocked(qi.PodInfo, qi.Pod.Status.NominatedNodeName)
}

func (q *PriorityQueue) backoffDuration(qi *QueuedPodInfo) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < qi.Attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

func (q *PriorityQueue) isBackingOff(qi *QueuedPodInfo) bool {
	return qi.backoffExpiry.After(q.opts.Now())
}

func (q *PriorityQueue) flushBackoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	moved := false
	for {
		qi := q.backoff.peek()
		if qi == nil || qi.backoffExpiry.After(now) {
			break
		}
		q.backoff.pop()
		q.active.add(qi)
		moved = true
	}
	if moved {
		q.cond.Broadcast()
	}
}

func (q *PriorityQueue) flushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	var move []*QueuedPodInfo
	for _, qi := range q.unschedulable {
		if now.Sub(qi.Timestamp) > unschedulableTimeout {
			move = append(move, qi)
		}
	}
	q.moveLocked(move)
}

// FlushBackoffForTest moves expired back-off pods now.
func (q *PriorityQueue) FlushBackoffForTest() { q.flushBackoff() }

// MoveAllToActiveOrBackoffQueue requeues the unschedulable pods that a
// plugin which rejected them registered event for; filter (optional) may
// further restrict which pods move.
func (q *PriorityQueue) MoveAllToActiveOrBackoffQueue(event framework.ClusterEvent, filter func(*v1.Pod) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var move []*QueuedPodInfo
	for _, qi := range q.unschedulable {
		if filter != nil && !filter(qi.Pod) {
			continue
		}
		if q.eventHelps(qi, event) {
			move = append(move, qi)
		}
	}
	q.moveLocked(move)
	q.moveRequestCycle = q.schedulingCycle
}

func (q *PriorityQueue) eventHelps(qi *QueuedPodInfo, event framework.ClusterEvent) bool {
	if len(qi.UnschedulablePlugins) == 0 {
		return true
	}
	for pl := range qi.UnschedulablePlugins {
		evs, ok := q.opts.EventsToRegister[pl]
		if !ok {
			return true
		}
		for _, e := range evs {
			if e.Match(event) {
				return true
			}
		}
	}
	return false
}

func (q *PriorityQueue) moveLocked(move []*QueuedPodInfo) {
	activated := false
	for _, qi := range move {
		delete(q.unschedulable, key(qi.Pod))
		if q.isBackingOff(qi) {
			q.backoff.add(qi)
		} else {
			q.active.add(qi)
			activated = true
		}
	}
	if activated {
		q.cond.Broadcast()
	}
}

// Depths are the numbers of pods in each part of the queue.
type Depths struct {
	Active, Backoff, Unschedulable int
}

// Depths reports the queue sizes.
func (q *PriorityQueue) Depths() Depths {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Depths{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable)}
}

// PendingPods lists all queued pods (tests, debugging).
func (q *PriorityQueue) PendingPods() []*v1.Pod {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*v1.Pod
	for _, qi := range q.active.items {
		out = append(out, qi.Pod)
	}
	for _, qi := range q.backoff.items {
		out = append(out, qi.Pod)
	}
	for _, qi := range q.unschedulable {
		out = append(out, qi.Pod)
	}
	return out
}

// Nominator.

// AddNominatedPod records that pod waits for nodeName ("" clears).
func (q *PriorityQueue) AddNominatedPod(pi *framework.PodInfo, nodeName string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addNominatedLocked(pi, nodeName)
}

// DeleteNominatedPodIfExists clears a pod's nomination.
func (q *PriorityQueue) DeleteNominatedPodIfExists(pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pod)
}

func (q *PriorityQueue) addNominatedLocked(pi *framework.PodInfo, nodeName string) {
	q.deleteNominatedLocked(pi.Pod)
	if nodeName == "" || pi.Pod.Spec.NodeName != "" {
		return
	}
	q.nominatedByUID[pi.Pod.UID] = nodeName
	q.nominated[nodeName] = append(q.nominated[nodeName], pi)
	q.nominatedNodes.Store(int64(len(q.nominated)))
}

func (q *PriorityQueue) updateNominatedLocked(pi *framework.PodInfo, pod *v1.Pod) {
	nn := pod.Status.NominatedNodeName
	if nn == "" {
		// Keep a nomination this scheduler made but has not seen yet.
		nn = q.nominatedByUID[pod.UID]
	}
	q.addNominatedLocked(pi, nn)
}

func (q *PriorityQueue) deleteNominatedLocked(pod *v1.Pod) {
	nn, ok := q.nominatedByUID[pod.UID]
	if !ok {
		return
	}
	delete(q.nominatedByUID, pod.UID)
	list := q.nominated[nn]
	for i, pi := range list {
		if pi.Pod.UID == pod.UID {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.nominated, nn)
	} else {
		q.nominated[nn] = list
	}
	q.nominatedNodes.Store(int64(len(q.nominated)))
}

// NominatedPodsForNode implements framework.Nominator.
func (q *PriorityQueue) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	if q.nominatedNodes.Load() == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.nominated[nodeName]
	if len(list) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), list...)
}
