// Package hollow simulates kubelets through the API only, for tests and
// benchmarks of the control plane: it registers Node objects, renews their
// Leases in kube-node-lease, reports the pods bound to them as Running and
// Ready, and completes their deletion. It runs no containers. Optionally it
// binds unscheduled pods round-robin, standing in for a scheduler.
package hollow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrNoNodes is returned when pods must be bound but every node is killed.
var ErrNoNodes = errors.New("hollow: no live node")

// LeaseNamespace holds node leases.
const LeaseNamespace = "kube-node-lease"

// Options shape the simulated nodes.
type Options struct {
	// Nodes is how many nodes to register (default 1).
	Nodes int
	// NamePrefix names nodes <prefix><index> (default "hollow-node-").
	NamePrefix string
	// CPU, Memory and Pods are each node's capacity and allocatable
	// (defaults 8, 32Gi, 110).
	CPU, Memory string
	Pods        int
	// Labels are added to every node.
	Labels map[string]string
	// LeaseDuration is the leases' leaseDurationSeconds (default 40s);
	// RenewInterval how often they are renewed (default 10s).
	LeaseDuration, RenewInterval time.Duration
	// BindUnscheduled binds pods without spec.nodeName to the live nodes
	// round-robin.
	BindUnscheduled bool
	// NotReady, when set, picks pods that run but never become Ready.
	NotReady func(*v1.Pod) bool
	// Workers update pods in parallel (default 8).
	Workers int
	// Logger may be nil.
	Logger *zap.Logger
}

func (o *Options) defaults() {
	if o.Nodes == 0 {
		o.Nodes = 1
	}
	if o.NamePrefix == "" {
		o.NamePrefix = "hollow-node-"
	}
	if o.CPU == "" {
		o.CPU = "8"
	}
	if o.Memory == "" {
		o.Memory = "32Gi"
	}
	if o.Pods == 0 {
		o.Pods = 110
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 40 * time.Second
	}
	if o.RenewInterval == 0 {
		o.RenewInterval = 10 * time.Second
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Cluster is a set of running hollow nodes.
type Cluster struct {
	opts   Options
	client kubernetes.Interface
	lg     *zap.Logger
	names  []string
	index  map[string]int

	mu     sync.Mutex
	killed map[string]bool
	leases map[string]*coordv1.Lease

	nextNode atomic.Uint64
	nextIP   atomic.Uint32
	pods     cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// Start registers the nodes and starts their kubelet loops; Stop ends them.
func Start(ctx context.Context, client kubernetes.Interface, opts Options) (*Cluster, error) {
	opts.defaults()
	ctx, cancel := context.WithCancel(ctx)
	c := &Cluster{
		opts: opts, client: client, lg: opts.Logger, index: map[string]int{},
		killed: map[string]bool{}, leases: map[string]*coordv1.Lease{}, cancel: cancel,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "hollow"}),
	}
	for i := range opts.Nodes {
		name := fmt.Sprintf("%s%d", opts.NamePrefix, i)
		c.names = append(c.names, name)
		c.index[name] = i
	}
	if err := c.registerAll(ctx); err != nil {
		cancel()
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c.pods = factory.Core().V1().Pods().Informer()
	_, _ = c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.pods.HasSynced) {
		cancel()
		return nil, fmt.Errorf("hollow: pod informer did not sync")
	}
	for range opts.Workers {
		c.wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	c.wg.Go(func() {
		wait.UntilWithContext(ctx, c.renewAll, opts.RenewInterval)
	})
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	c.wg.Go(func() { factory.Shutdown() })
	return c, nil
}

// Stop ends every node's loops. Node objects stay.
func (c *Cluster) Stop() {
	c.cancel()
	c.queue.ShutDown()
	c.wg.Wait()
}

// NodeNames returns the nodes' names.
func (c *Cluster) NodeNames() []string { return append([]string(nil), c.names...) }

// Kill makes name stop renewing its lease and tending its pods, as a node
// whose kubelet died.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed[name] = true
}

func (c *Cluster) alive(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ours := c.index[name]
	return ours && !c.killed[name]
}

func (c *Cluster) registerAll(ctx context.Context) error {
	errs := make([]error, len(c.names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, name := range c.names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = c.register(ctx, name, i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Cluster) register(ctx context.Context, name string, i int) error {
	capacity := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(c.opts.CPU),
		v1.ResourceMemory: resource.MustParse(c.opts.Memory),
		v1.ResourcePods:   *resource.NewQuantity(int64(c.opts.Pods), resource.DecimalSI),
	}
	labels := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	for k, v := range c.opts.Labels {
		labels[k] = v
	}
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	created, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("hollow: register %s: %w", name, err)
	}
	now := metav1.Now()
	created.Status = v1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       v1.NodeRunning,
		Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: fmt.Sprintf("10.255.%d.%d", i/250, i%250+1)},
			{Type: v1.NodeHostName, Address: name},
		},
		Conditions: []v1.NodeCondition{
			{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "hollow kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		NodeInfo: v1.NodeSystemInfo{KubeletVersion: "v1.37.2-hollow", OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "hollow://1"},
	}
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("hollow: status of %s: %w", name, err)
	}
	return c.renew(ctx, name, created)
}

func (c *Cluster) renewAll(ctx context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, name := range c.names {
		if !c.alive(name) {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := c.renew(ctx, name, nil); err != nil && ctx.Err() == nil {
				c.lg.Warn("failed to renew lease", zap.String("node", name), zap.Error(err))
			}
		})
	}
	wg.Wait()
}

// renew creates or renews name's lease; node, when given, becomes its owner.
func (c *Cluster) renew(ctx context.Context, name string, node *v1.Node) error {
	leases := c.client.CoordinationV1().Leases(LeaseNamespace)
	c.mu.Lock()
	lease := c.leases[name]
	c.mu.Unlock()
	now := metav1.NewMicroTime(time.Now())
	var err error
	if lease == nil {
		lease, err = leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			secs := int32(c.opts.LeaseDuration / time.Second)
			l := &coordv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
				Spec:       coordv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs, RenewTime: &now},
			}
			if node != nil {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: name, UID: node.UID}}
			}
			lease, err = leases.Create(ctx, l, metav1.CreateOptions{})
		}
		if err != nil {
			return err
		}
	} else {
		l := lease.DeepCopy()
		l.Spec.RenewTime = &now
		lease, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		if err != nil {
			c.mu.Lock()
			delete(c.leases, name)
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Lock()
	c.leases[name] = lease
	c.mu.Unlock()
	return nil
}

func (c *Cluster) enqueue(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	if pod.Spec.NodeName == "" {
		if !c.opts.BindUnscheduled || pod.DeletionTimestamp != nil {
			return
		}
	} else if !c.alive(pod.Spec.NodeName) {
		return
	} else if pod.DeletionTimestamp == nil && c.handled(pod) {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.queue.Add(key)
	}
}

// handled reports whether pod already has the status the node gives it.
func (c *Cluster) handled(pod *v1.Pod) bool {
	if c.opts.NotReady != nil && c.opts.NotReady(pod) {
		return pod.Status.Phase == v1.PodRunning
	}
	return running(pod)
}

func running(pod *v1.Pod) bool {
	if pod.Status.Phase != v1.PodRunning {
		return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == v1.PodReady {
			return cond.Status == v1.ConditionTrue
		}
	}
	return false
}

func (c *Cluster) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncPod(ctx, key); err != nil && ctx.Err() == nil {
		c.lg.Debug("pod sync failed", zap.String("pod", key), zap.Error(err))
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Cluster) syncPod(ctx context.Context, key string) error {
	obj, exists, err := c.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*v1.Pod)
	pods := c.client.CoreV1().Pods(pod.Namespace)
	if pod.Spec.NodeName == "" {
		node, err := c.pickNode()
		if err != nil {
			return err
		}
		err = pods.Bind(ctx, &v1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     v1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if !c.alive(pod.Spec.NodeName) {
		return nil
	}
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if c.handled(pod) {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = v1.PodRunning
	if p.Status.StartTime == nil {
		p.Status.StartTime = &now
	}
	if p.Status.PodIP == "" {
		ip := c.podIP()
		p.Status.PodIP = ip
		p.Status.PodIPs = []v1.PodIP{{IP: ip}}
	}
	p.Status.HostIP = fmt.Sprintf("10.255.%d.%d", c.index[p.Spec.NodeName]/250, c.index[p.Spec.NodeName]%250+1)
	p.Status.HostIPs = []v1.HostIP{{IP: p.Status.HostIP}}
	ready := c.opts.NotReady == nil || !c.opts.NotReady(pod)
	readyStatus := v1.ConditionTrue
	if !ready {
		readyStatus = v1.ConditionFalse
	}
	p.Status.Conditions = []v1.PodCondition{
		{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now},
		{Type: v1.PodInitialized, Status: v1.ConditionTrue, LastTransitionTime: now},
		{Type: v1.ContainersReady, Status: readyStatus, LastTransitionTime: now},
		{Type: v1.PodReady, Status: readyStatus, LastTransitionTime: now},
	}
	p.Status.ContainerStatuses = nil
	for _, ctr := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, v1.ContainerStatus{
			Name: ctr.Name, Image: ctr.Image, ImageID: "hollow://" + ctr.Image, Ready: ready,
			Started: ptr(true), ContainerID: "hollow://" + string(p.UID) + "/" + ctr.Name,
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// A newer version is on its way through the informer.
		return nil
	}
	return err
}

func (c *Cluster) pickNode() (string, error) {
	for range c.names {
		name := c.names[c.nextNode.Add(1)%uint64(len(c.names))]
		if c.alive(name) {
			return name, nil
		}
	}
	return "", ErrNoNodes
}

// podIP hands out addresses from 10.128.0.0/9, distinct per cluster.
func (c *Cluster) podIP() string {
	n := c.nextIP.Add(1)
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, 10<<24|1<<23|n&(1<<23-1))
	return ip.String()
}

func ptr[T any](v T) *T { return &v }
