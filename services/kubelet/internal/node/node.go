// Package node registers the kubelet's Node, keeps its status (capacity,
// addresses, conditions) current and renews its Lease in kube-node-lease,
// the heartbeat the node lifecycle controller watches.
package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Defaults as Kubernetes' kubelet.
const (
	LeaseNamespace     = "kube-node-lease"
	LeaseDuration      = 40 * time.Second
	StatusUpdatePeriod = 10 * time.Second
	// StatusReportPeriod re-sends an unchanged status so the node's
	// conditions' heartbeat times stay fresh.
	StatusReportPeriod = 5 * time.Minute
)

// Options describe the node.
type Options struct {
	Client kubernetes.Interface
	Name   string
	// Labels are added to the well-known ones.
	Labels map[string]string
	Taints []v1.Taint
	// PodCIDR is set on the Node when it is created without one (standalone
	// clusters without the node IPAM controller).
	PodCIDR string
	// Address is the node's InternalIP.
	Address string
	// KubeletPort is the kubelet's HTTPS port (daemonEndpoints).
	KubeletPort int32
	// RuntimeVersion is e.g. "runc://1.3.0".
	RuntimeVersion string
	KubeletVersion string
	// Machine reads capacity and pressure; nil uses the real machine.
	Machine *Machine
	// Reserved is subtracted from capacity for allocatable.
	Reserved v1.ResourceList
	MaxPods  int
	// RuntimeReady reports whether pods can run (nil: always).
	RuntimeReady func() error
	Logger       *zap.Logger
}

// Agent owns the Node object and the Lease.
type Agent struct {
	o       Options
	lg      *zap.Logger
	mu      sync.Mutex
	node    *v1.Node
	lastRep time.Time
}

// New returns an agent; Register, then Run.
func New(o Options) *Agent {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Machine == nil {
		o.Machine = &Machine{}
	}
	if o.MaxPods == 0 {
		o.MaxPods = 110
	}
	return &Agent{o: o, lg: o.Logger}
}

// Node returns the last Node seen or written.
func (a *Agent) Node() *v1.Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.node
}

// Observe records a Node update from an informer (podCIDR assignment).
func (a *Agent) Observe(n *v1.Node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil || n.ResourceVersion != a.node.ResourceVersion {
		a.node = n
	}
}

// PodCIDR is the node's pod range ("" until assigned).
func (a *Agent) PodCIDR() string {
	n := a.Node()
	if n == nil {
		return ""
	}
	return n.Spec.PodCIDR
}

// Register creates the Node or updates an existing one's labels and status;
// it retries until ctx ends.
func (a *Agent) Register(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := a.register(ctx)
		if err == nil {
			return nil
		}
		a.lg.Warn("failed to register node", zap.String("node", a.o.Name), zap.Error(err))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 7*time.Second)
	}
}

func (a *Agent) register(ctx context.Context) error {
	nodes := a.o.Client.CoreV1().Nodes()
	want, err := a.desired(nil)
	if err != nil {
		return err
	}
	created, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		a.Observe(created)
		return a.updateStatus(ctx, true)
	}
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := nodes.Get(ctx, a.o.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	upd := cur.DeepCopy()
	for k, v := range want.Labels {
		if upd.Labels == nil {
			upd.Labels = map[string]string{}
		}
		upd.Labels[k] = v
	}
	if upd.Spec.PodCIDR == "" && a.o.PodCIDR != "" {
		upd.Spec.PodCIDR = a.o.PodCIDR
		upd.Spec.PodCIDRs = []string{a.o.PodCIDR}
	}
	if !apiequality.Semantic.DeepEqual(upd.ObjectMeta.Labels, cur.ObjectMeta.Labels) || upd.Spec.PodCIDR != cur.Spec.PodCIDR {
		if cur, err = nodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	a.Observe(cur)
	return a.updateStatus(ctx, true)
}

// desired is the Node as the kubelet would create it, with status.
func (a *Agent) desired(base *v1.Node) (*v1.Node, error) {
	n := &v1.Node{}
	if base != nil {
		n = base.DeepCopy()
	}
	n.Name = a.o.Name
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range a.o.Machine.Labels(a.o.Name) {
		n.Labels[k] = v
	}
	for k, v := range a.o.Labels {
		n.Labels[k] = v
	}
	if base == nil {
		n.Spec.Taints = a.o.Taints
		if a.o.PodCIDR != "" {
			n.Spec.PodCIDR = a.o.PodCIDR
			n.Spec.PodCIDRs = []string{a.o.PodCIDR}
		}
	}
	capacity, err := a.o.Machine.Capacity(a.o.MaxPods)
	if err != nil {
		return nil, err
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = allocatable(capacity, a.o.Reserved)
	n.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeHostName, Address: a.o.Name}}
	if a.o.Address != "" {
		n.Status.Addresses = append([]v1.NodeAddress{{Type: v1.NodeInternalIP, Address: a.o.Address}}, n.Status.Addresses...)
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = a.o.KubeletPort
	info := a.o.Machine.Info()
	info.ContainerRuntimeVersion = a.o.RuntimeVersion
	info.KubeletVersion = a.o.KubeletVersion
	info.KubeProxyVersion = ""
	if base != nil {
		info.MachineID, info.SystemUUID, info.BootID = base.Status.NodeInfo.MachineID, base.Status.NodeInfo.SystemUUID, base.Status.NodeInfo.BootID
		if info.BootID == "" {
			info = a.o.Machine.withIDs(info)
		}
	} else {
		info = a.o.Machine.withIDs(info)
	}
	n.Status.NodeInfo = info
	n.Status.Conditions = a.conditions(base)
	return n, nil
}

func allocatable(capacity, reserved v1.ResourceList) v1.ResourceList {
	out := v1.ResourceList{}
	for name, q := range capacity {
		q = q.DeepCopy()
		if r, ok := reserved[name]; ok {
			q.Sub(r)
			if q.Sign() < 0 {
				q = resource.MustParse("0")
			}
		}
		out[name] = q
	}
	return out
}

// conditions computes Ready and the pressure conditions, keeping transition
// times from base when a status does not change.
func (a *Agent) conditions(base *v1.Node) []v1.NodeCondition {
	now := metav1.Now()
	p := a.o.Machine.Pressure()
	ready, readyReason, readyMsg := v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"
	if a.o.RuntimeReady != nil {
		if err := a.o.RuntimeReady(); err != nil {
			ready, readyReason, readyMsg = v1.ConditionFalse, "KubeletNotReady", fmt.Sprintf("container runtime is down: %v", err)
		}
	}
	want := []v1.NodeCondition{
		pressure(v1.NodeMemoryPressure, p.Memory, "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory", "memory"),
		pressure(v1.NodeDiskPressure, p.Disk, "KubeletHasDiskPressure", "KubeletHasNoDiskPressure", "disk"),
		pressure(v1.NodePIDPressure, p.PID, "KubeletHasInsufficientPID", "KubeletHasSufficientPID", "PID"),
		{Type: v1.NodeReady, Status: ready, Reason: readyReason, Message: readyMsg},
	}
	for i := range want {
		want[i].LastHeartbeatTime = now
		want[i].LastTransitionTime = now
		if base == nil {
			continue
		}
		for _, old := range base.Status.Conditions {
			if old.Type == want[i].Type && old.Status == want[i].Status {
				want[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return want
}

func pressure(t v1.NodeConditionType, under bool, yes, no, what string) v1.NodeCondition {
	if under {
		return v1.NodeCondition{Type: t, Status: v1.ConditionTrue, Reason: yes, Message: "kubelet has " + what + " pressure"}
	}
	return v1.NodeCondition{Type: t, Status: v1.ConditionFalse, Reason: no, Message: "kubelet has sufficient " + what + " available"}
}

// Run keeps the status and the lease fresh until ctx ends; then it marks
// the node NotReady (a clean stop).
func (a *Agent) Run(ctx context.Context) {
	lease := time.NewTicker(LeaseDuration / 4)
	status := time.NewTicker(StatusUpdatePeriod)
	defer lease.Stop()
	defer status.Stop()
	a.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			a.markNotReady(stop)
			cancel()
			return
		case <-lease.C:
			a.renewLease(ctx)
		case <-status.C:
			if err := a.updateStatus(ctx, false); err != nil && ctx.Err() == nil {
				a.lg.Warn("failed to update node status", zap.Error(err))
			}
		}
	}
}

// updateStatus writes the status when it changed (or force, or the report
// period passed).
func (a *Agent) updateStatus(ctx context.Context, force bool) error {
	nodes := a.o.Client.CoreV1().Nodes()
	for range 5 {
		cur, err := nodes.Get(ctx, a.o.Name, metav1.GetOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		want, err := a.desired(cur)
		if err != nil {
			return err
		}
		if !force && time.Since(a.lastRep) < StatusReportPeriod && sameStatus(cur.Status, want.Status) {
			a.Observe(cur)
			return nil
		}
		upd, err := nodes.UpdateStatus(ctx, want, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		a.lastRep = time.Now()
		a.Observe(upd)
		return nil
	}
	return fmt.Errorf("node: status update kept conflicting")
}

// sameStatus compares statuses ignoring heartbeat times.
func sameStatus(a, b v1.NodeStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, s := range []*v1.NodeStatus{&a, &b} {
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

func (a *Agent) renewLease(ctx context.Context) {
	leases := a.o.Client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, a.o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.o.Name, Namespace: LeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.o.Name),
				LeaseDurationSeconds: ptr.To(int32(LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if n := a.Node(); n != nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	case err == nil:
		l.Spec.RenewTime = &now
		l.Spec.HolderIdentity = ptr.To(a.o.Name)
		l.Spec.LeaseDurationSeconds = ptr.To(int32(LeaseDuration / time.Second))
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil && ctx.Err() == nil {
		a.lg.Warn("failed to renew node lease", zap.Error(err))
	}
}

// markNotReady sets Ready=False on a clean stop, so the control plane
// knows at once rather than after the lease expires.
func (a *Agent) markNotReady(ctx context.Context) {
	nodes := a.o.Client.CoreV1().Nodes()
	for range 3 {
		cur, err := nodes.Get(ctx, a.o.Name, metav1.GetOptions{})
		if err != nil {
			return
		}
		now := metav1.Now()
		for i := range cur.Status.Conditions {
			c := &cur.Status.Conditions[i]
			if c.Type == v1.NodeReady {
				c.Status, c.Reason, c.Message = v1.ConditionFalse, "KubeletStopped", "kubelet was stopped"
				c.LastHeartbeatTime, c.LastTransitionTime = now, now
			}
		}
		if _, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			if err != nil {
				a.lg.Warn("failed to mark node not ready", zap.Error(err))
			}
			return
		}
	}
}
