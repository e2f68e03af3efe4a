// Package nodelifecycle watches node health through Leases: a node whose
// lease is not renewed within the grace period gets Ready=Unknown; nodes
// are tainted after their Ready condition (NoSchedule at once, NoExecute at
// a per-zone rate that slows or stops when a zone is largely down), and pods
// on NoExecute-tainted nodes are evicted once their toleration runs out.
package nodelifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/node/topology"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "nodelifecycle"

// LeaseNamespace holds node leases.
const LeaseNamespace = "kube-node-lease"

const nodeNameIndex = "spec.nodeName"

// Settings tune the controller.
type Settings struct {
	MonitorPeriod                       time.Duration
	GracePeriod                         time.Duration
	StartupGracePeriod                  time.Duration
	EvictionRate                        float32
	SecondaryEvictionRate               float32
	LargeClusterThreshold               int
	UnhealthyZoneThreshold              float32
	DefaultNotReadyTolerationSeconds    int64
	DefaultUnreachableTolerationSeconds int64
}

type health struct {
	probe     time.Time
	renew     time.Time
	heartbeat time.Time
}

type zoneLimiter struct {
	qps     float32
	limiter flowcontrol.RateLimiter
}

// Controller is the node lifecycle controller.
type Controller struct {
	client      kubernetes.Interface
	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	pods        cache.Indexer
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	s           Settings
	lg          *zap.Logger
	recorder    record.EventRecorder
	now         func() time.Time

	mu     sync.Mutex
	health map[string]*health
	zones  map[string]*zoneLimiter
	// zoneStates is only touched by the monitor loop.
	zoneStates map[string]zoneState

	// syncHandler (NoSchedule taints per node) is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the node lifecycle controller.
func New(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, leaseInformer coordinformers.LeaseInformer, podInformer coreinformers.PodInformer, s Settings, recorder record.EventRecorder, lg *zap.Logger) (*Controller, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	if recorder == nil {
		recorder = &record.FakeRecorder{}
	}
	err := podInformer.Informer().AddIndexers(cache.Indexers{nodeNameIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*v1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{p.Spec.NodeName}, nil
	}})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: pod index: %w", err)
	}
	c := &Controller{
		client: client, nodeLister: nodeInformer.Lister(), leaseLister: leaseInformer.Lister(),
		pods: podInformer.Informer().GetIndexer(),
		synced: []cache.InformerSynced{nodeInformer.Informer().HasSynced, leaseInformer.Informer().HasSynced,
			podInformer.Informer().HasSynced},
		queue: controller.NewQueue(Name), s: s, lg: lg.With(zap.String("controller", Name)), recorder: recorder, now: time.Now,
		health: map[string]*health{}, zones: map[string]*zoneLimiter{}, zoneStates: map[string]zoneState{},
	}
	c.syncHandler = c.syncNoSchedule
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controller.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controller.Enqueue(c.queue, obj) },
	})
	return c, nil
}

// Run waits for the caches, then monitors nodes, evicts pods and keeps
// NoSchedule taints until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced...) {
		return fmt.Errorf("%w: %s", controller.ErrCacheSync, Name)
	}
	go wait.UntilWithContext(ctx, c.monitor, c.s.MonitorPeriod)
	go wait.UntilWithContext(ctx, c.evict, min(time.Second, c.s.MonitorPeriod))
	return controller.RunWorkers(ctx, Name, c.lg, c.queue, workers, c.syncHandler, c.synced...)
}

func readyCondition(n *v1.Node) *v1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == v1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func readyStatus(n *v1.Node) v1.ConditionStatus {
	if c := readyCondition(n); c != nil {
		return c.Status
	}
	return v1.ConditionUnknown
}

// monitor marks silent nodes Unknown and taints nodes NoExecute.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.now()
	seen := map[string]bool{}
	statuses := make(map[string]v1.ConditionStatus, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		st, err := c.checkHealth(ctx, n, now)
		if err != nil {
			c.lg.Warn("failed to update node health", zap.String("node", n.Name), zap.Error(err))
			st = readyStatus(n)
		}
		statuses[n.Name] = st
	}
	c.mu.Lock()
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
		}
	}
	c.mu.Unlock()
	// Zone health decides how fast NoExecute taints may be added.
	sizes := map[string]int{}
	notReady := map[string]int{}
	for _, n := range nodes {
		z := topology.GetZoneKey(n)
		sizes[z]++
		if statuses[n.Name] != v1.ConditionTrue {
			notReady[z]++
		}
	}
	states := make(map[string]zoneState, len(sizes))
	for z, size := range sizes {
		states[z] = c.zoneState(size, notReady[z])
	}
	if entered := c.handleDisruption(ctx, nodes, states, sizes, now); entered {
		// The taints were just lifted; the cached nodes still show them.
		return
	}
	for _, n := range nodes {
		if err := c.reconcileNoExecute(ctx, n, statuses[n.Name], c.zoneLimiter(topology.GetZoneKey(n))); err != nil {
			c.lg.Warn("failed to taint node", zap.String("node", n.Name), zap.Error(err))
		}
	}
}

// zoneState is the health of a zone, as Kubernetes classifies it.
type zoneState int

const (
	stateInitial zoneState = iota
	stateNormal
	statePartialDisruption
	stateFullDisruption
)

func (s zoneState) String() string {
	return [...]string{"Initial", "Normal", "PartialDisruption", "FullDisruption"}[s]
}

func (c *Controller) zoneState(size, notReady int) zoneState {
	switch {
	case notReady == size && size > 0:
		return stateFullDisruption
	case notReady > 2 && float32(notReady)/float32(size) >= c.s.UnhealthyZoneThreshold:
		return statePartialDisruption
	}
	return stateNormal
}

// zoneQPS is the NoExecute tainting rate of a zone in state. A zone that is
// wholly down while others are not is tainted at the normal rate; a large
// partly disrupted zone at the secondary rate, a small one not at all.
func (c *Controller) zoneQPS(state zoneState, size int) float32 {
	if state == statePartialDisruption {
		if size > c.s.LargeClusterThreshold {
			return c.s.SecondaryEvictionRate
		}
		return 0
	}
	return c.s.EvictionRate
}

// handleDisruption moves zones to their new states and sets their tainting
// rates. When every zone is fully disrupted the likely fault is ours (or the
// network's), not the nodes': like Kubernetes it then lifts the NoExecute
// taints, so nothing is evicted, and adds none until some node is Ready
// again, when every node gets a fresh grace period. It reports whether it
// entered that mode in this pass.
func (c *Controller) handleDisruption(ctx context.Context, nodes []*v1.Node, states map[string]zoneState, sizes map[string]int, now time.Time) bool {
	allAre := len(states) > 0
	for _, s := range states {
		allAre = allAre && s == stateFullDisruption
	}
	for z := range states {
		if _, had := c.zoneStates[z]; !had {
			c.zoneStates[z] = stateInitial
		}
	}
	allWas := true
	for z, s := range c.zoneStates {
		if _, ok := states[z]; !ok {
			delete(c.zoneStates, z)
			c.mu.Lock()
			delete(c.zones, z)
			c.mu.Unlock()
			continue
		}
		allWas = allWas && s == stateFullDisruption
	}
	switch {
	case allAre && allWas:
		return false
	case allAre:
		c.lg.Warn("all nodes are not ready: entering full disruption mode, no taint-based evictions")
		for _, n := range nodes {
			if err := c.liftNoExecute(ctx, n); err != nil {
				c.lg.Warn("failed to remove NoExecute taints", zap.String("node", n.Name), zap.Error(err))
			}
		}
		for z := range c.zoneStates {
			c.limiter(z, 0)
			c.zoneStates[z] = stateFullDisruption
		}
		return true
	case allWas:
		c.lg.Info("some nodes are ready: leaving full disruption mode")
		c.mu.Lock()
		for _, h := range c.health {
			h.probe = now
		}
		c.mu.Unlock()
		for z := range c.zoneStates {
			c.limiter(z, c.zoneQPS(states[z], sizes[z]))
			c.zoneStates[z] = states[z]
		}
		return false
	}
	for z, s := range c.zoneStates {
		if s == states[z] {
			continue
		}
		c.lg.Info("zone changed state", zap.String("zone", z), zap.Stringer("state", states[z]))
		c.limiter(z, c.zoneQPS(states[z], sizes[z]))
		c.zoneStates[z] = states[z]
	}
	return false
}

// liftNoExecute removes the not-ready and unreachable NoExecute taints.
func (c *Controller) liftNoExecute(ctx context.Context, n *v1.Node) error {
	if !slices.ContainsFunc(n.Spec.Taints, isLifecycleNoExecute) {
		return nil
	}
	return c.updateTaints(ctx, n.Name, func(taints []v1.Taint) []v1.Taint {
		return slices.DeleteFunc(taints, isLifecycleNoExecute)
	})
}

func isLifecycleNoExecute(t v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoExecute && (t.Key == v1.TaintNodeNotReady || t.Key == v1.TaintNodeUnreachable)
}

// zoneLimiter is the zone's tainting limiter; a zone not seen yet taints at
// the normal rate.
func (c *Controller) zoneLimiter(zone string) flowcontrol.RateLimiter {
	c.mu.Lock()
	z := c.zones[zone]
	c.mu.Unlock()
	if z != nil {
		return z.limiter
	}
	return c.limiter(zone, c.s.EvictionRate)
}

func (c *Controller) limiter(zone string, qps float32) flowcontrol.RateLimiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	z := c.zones[zone]
	if z == nil || z.qps != qps {
		var l flowcontrol.RateLimiter
		if qps > 0 {
			l = flowcontrol.NewTokenBucketRateLimiter(qps, 1)
		} else {
			l = flowcontrol.NewFakeNeverRateLimiter()
		}
		z = &zoneLimiter{qps: qps, limiter: l}
		c.zones[zone] = z
	}
	return z.limiter
}

// checkHealth returns n's Ready status after marking it Unknown when its
// lease (or status heartbeat) went silent for longer than the grace period.
func (c *Controller) checkHealth(ctx context.Context, n *v1.Node, now time.Time) (v1.ConditionStatus, error) {
	ready := readyCondition(n)
	var renew, heartbeat time.Time
	if l, err := c.leaseLister.Leases(LeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if ready != nil {
		heartbeat = ready.LastHeartbeatTime.Time
	}
	c.mu.Lock()
	h := c.health[n.Name]
	if h == nil {
		h = &health{probe: now, renew: renew, heartbeat: heartbeat}
		c.health[n.Name] = h
	} else if !renew.Equal(h.renew) || !heartbeat.Equal(h.heartbeat) {
		// Our own clock, not the kubelet's, decides when it was last heard of.
		h.probe, h.renew, h.heartbeat = now, renew, heartbeat
	}
	probe := h.probe
	c.mu.Unlock()
	grace := c.s.GracePeriod
	if ready == nil {
		grace = c.s.StartupGracePeriod
	}
	if !now.After(probe.Add(grace)) || (ready != nil && ready.Status == v1.ConditionUnknown) {
		return readyStatus(n), nil
	}
	cp := n.DeepCopy()
	ts := metav1.NewTime(now)
	for _, t := range []v1.NodeConditionType{v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		i := slices.IndexFunc(cp.Status.Conditions, func(c v1.NodeCondition) bool { return c.Type == t })
		if i < 0 {
			cp.Status.Conditions = append(cp.Status.Conditions, v1.NodeCondition{Type: t, Status: v1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.", LastHeartbeatTime: ts, LastTransitionTime: ts})
			continue
		}
		cond := &cp.Status.Conditions[i]
		if cond.Status != v1.ConditionUnknown {
			cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = v1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.", ts
		}
	}
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return readyStatus(n), err
	}
	c.lg.Info("node stopped reporting, ready is unknown", zap.String("node", n.Name))
	c.recorder.Eventf(&v1.ObjectReference{Kind: "Node", Name: n.Name, UID: types.UID(n.Name)}, v1.EventTypeNormal, "NodeNotReady",
		"Node %s status is now: NodeNotReady", n.Name)
	c.markPodsNotReady(ctx, n.Name)
	return v1.ConditionUnknown, nil
}

func (c *Controller) markPodsNotReady(ctx context.Context, node string) {
	objs, _ := c.pods.ByIndex(nodeNameIndex, node)
	for _, o := range objs {
		p := o.(*v1.Pod)
		cond := controller.PodReadyCondition(p)
		if cond == nil || cond.Status != v1.ConditionTrue || p.DeletionTimestamp != nil {
			continue
		}
		// A patch, not an update: cached pods are trimmed.
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []v1.PodCondition{{
			Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "NodeNotReady", LastTransitionTime: metav1.NewTime(c.now())}}}})
		_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil && !apierrors.IsNotFound(err) {
			c.lg.Debug("failed to mark pod not ready", zap.String("pod", p.Namespace+"/"+p.Name), zap.Error(err))
		}
	}
}

// wantTaint is the taint key a Ready status calls for, if any.
func wantTaint(st v1.ConditionStatus) string {
	switch st {
	case v1.ConditionFalse:
		return v1.TaintNodeNotReady
	case v1.ConditionUnknown:
		return v1.TaintNodeUnreachable
	}
	return ""
}

// reconcileNoExecute applies the NoExecute taint Ready calls for; adding
// one waits for the zone's limiter, removing is immediate.
func (c *Controller) reconcileNoExecute(ctx context.Context, n *v1.Node, st v1.ConditionStatus, limiter flowcontrol.RateLimiter) error {
	want := wantTaint(st)
	has := func(key string) bool {
		return slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool { return t.Key == key && t.Effect == v1.TaintEffectNoExecute })
	}
	stale := slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool {
		return t.Effect == v1.TaintEffectNoExecute && (t.Key == v1.TaintNodeNotReady || t.Key == v1.TaintNodeUnreachable) && t.Key != want
	})
	adding := want != "" && !has(want)
	if !adding && !stale {
		return nil
	}
	if adding && !limiter.TryAccept() {
		if stale {
			// Swapping not-ready for unreachable is not a new eviction.
			adding = true
		} else {
			return nil
		}
	}
	return c.updateTaints(ctx, n.Name, func(taints []v1.Taint) []v1.Taint {
		taints = slices.DeleteFunc(taints, func(t v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoExecute && (t.Key == v1.TaintNodeNotReady || t.Key == v1.TaintNodeUnreachable) && t.Key != want
		})
		if adding {
			now := metav1.NewTime(c.now())
			taints = append(taints, v1.Taint{Key: want, Effect: v1.TaintEffectNoExecute, TimeAdded: &now})
			c.lg.Info("tainting node", zap.String("node", n.Name), zap.String("taint", want+":NoExecute"))
		}
		return taints
	})
}

func (c *Controller) updateTaints(ctx context.Context, name string, mutate func([]v1.Taint) []v1.Taint) error {
	node, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	taints := mutate(slices.Clone(node.Spec.Taints))
	if slices.EqualFunc(taints, node.Spec.Taints, func(a, b v1.Taint) bool { return a.MatchTaint(&b) }) {
		return nil
	}
	node.Spec.Taints = taints
	_, err = c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	return err
}

// syncNoSchedule keeps a node's NoSchedule taints in line with its Ready
// condition and spec.unschedulable; it removes the not-ready taint the
// apiserver puts on new nodes once they report Ready.
func (c *Controller) syncNoSchedule(ctx context.Context, name string) error {
	n, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if k := wantTaint(readyStatus(n)); k != "" {
		want[k] = true
	}
	if n.Spec.Unschedulable {
		want[v1.TaintNodeUnschedulable] = true
	}
	managed := func(k string) bool {
		return k == v1.TaintNodeNotReady || k == v1.TaintNodeUnreachable || k == v1.TaintNodeUnschedulable
	}
	have := map[string]bool{}
	for _, t := range n.Spec.Taints {
		if t.Effect == v1.TaintEffectNoSchedule && managed(t.Key) {
			have[t.Key] = true
		}
	}
	if fmt.Sprint(have) == fmt.Sprint(want) {
		return nil
	}
	err = c.updateTaints(ctx, name, func(taints []v1.Taint) []v1.Taint {
		taints = slices.DeleteFunc(taints, func(t v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoSchedule && managed(t.Key) && !want[t.Key]
		})
		for k := range want {
			if !have[k] {
				taints = append(taints, v1.Taint{Key: k, Effect: v1.TaintEffectNoSchedule})
			}
		}
		return taints
	})
	if apierrors.IsConflict(err) {
		c.queue.Add(name)
		return nil
	}
	return err
}

// evict deletes the pods on NoExecute-tainted nodes whose tolerations ran out.
func (c *Controller) evict(ctx context.Context) {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.now()
	for _, n := range nodes {
		var taints []v1.Taint
		for _, t := range n.Spec.Taints {
			if t.Effect == v1.TaintEffectNoExecute {
				taints = append(taints, t)
			}
		}
		if len(taints) == 0 {
			continue
		}
		objs, _ := c.pods.ByIndex(nodeNameIndex, n.Name)
		for _, o := range objs {
			p := o.(*v1.Pod)
			if p.DeletionTimestamp != nil || controller.IsPodTerminal(p) {
				continue
			}
			at, ok := c.evictionTime(p, taints)
			if !ok || now.Before(at) {
				continue
			}
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				c.lg.Warn("failed to evict pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.Error(err))
				continue
			}
			c.recorder.Eventf(p, v1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
			c.lg.Info("evicted pod from tainted node", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("node", n.Name))
		}
	}
}

// evictionTime is when pod must leave a node with taints; false when it
// tolerates them forever. Pods without a toleration for not-ready or
// unreachable get the configured default seconds, as the
// DefaultTolerationSeconds admission plugin gives them on Kubernetes.
func (c *Controller) evictionTime(p *v1.Pod, taints []v1.Taint) (time.Time, bool) {
	var at time.Time
	found := false
	for i := range taints {
		t := &taints[i]
		added := p.CreationTimestamp.Time
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		var secs *int64
		tolerated := false
		for j := range p.Spec.Tolerations {
			tol := &p.Spec.Tolerations[j]
			if !tolerates(tol, t) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				secs = nil
				break
			}
			if secs == nil || *tol.TolerationSeconds < *secs {
				secs = tol.TolerationSeconds
			}
		}
		if !tolerated {
			switch t.Key {
			case v1.TaintNodeNotReady:
				secs = &c.s.DefaultNotReadyTolerationSeconds
			case v1.TaintNodeUnreachable:
				secs = &c.s.DefaultUnreachableTolerationSeconds
			default:
				zero := int64(0)
				secs = &zero
			}
		} else if secs == nil {
			continue
		}
		when := added.Add(time.Duration(max(*secs, 0)) * time.Second)
		if !found || when.Before(at) {
			at, found = when, true
		}
	}
	return at, found
}

// tolerates matches a toleration against a taint by key, effect and
// (for the Equal operator) value.
func tolerates(tol *v1.Toleration, t *v1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key == "" {
		return tol.Operator == v1.TolerationOpExists
	}
	if tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case v1.TolerationOpExists:
		return true
	case "", v1.TolerationOpEqual:
		return tol.Value == t.Value
	}
	return false
}
