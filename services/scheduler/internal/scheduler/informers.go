package scheduler

import (
	"context"
	"encoding/binary"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"drover.dev/libs/bus"
)

// NewInformerFactory returns the shared informer factory the scheduler
// needs: its pod informer skips finished pods (they hold no resources) and
// every informer drops managedFields to save memory.
// With js, every informer lists through the apiserver and watches the bus.
func NewInformerFactory(cs kubernetes.Interface, resync time.Duration, js jetstream.JetStream) (informers.SharedInformerFactory, error) {
	f := informers.NewSharedInformerFactoryWithOptions(cs, resync, informers.WithTransform(trim))
	if js != nil {
		rs, err := bus.Standard(cs, "pods", "nodes", "namespaces", "services", "replicationcontrollers", "replicasets", "statefulsets",
			"persistentvolumes", "persistentvolumeclaims", "storageclasses", "poddisruptionbudgets", "priorityclasses")
		if err != nil {
			return nil, err
		}
		rs[0].FieldSelector = "status.phase!=" + string(v1.PodSucceeded) + ",status.phase!=" + string(v1.PodFailed)
		rs[0].Match = func(o runtime.Object) bool {
			p := o.(*v1.Pod).Status.Phase
			return p != v1.PodSucceeded && p != v1.PodFailed
		}
		bus.UseBus(f, js, rs...)
		return f, nil
	}
	f.InformerFor(&v1.Node{}, func(cs kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		inf := coreinformers.NewNodeInformer(cs, resync, cache.Indexers{})
		return inf
	})
	f.InformerFor(&v1.Pod{}, func(cs kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = "status.phase!=" + string(v1.PodSucceeded) + ",status.phase!=" + string(v1.PodFailed)
				return cs.CoreV1().Pods("").List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = "status.phase!=" + string(v1.PodSucceeded) + ",status.phase!=" + string(v1.PodFailed)
				return cs.CoreV1().Pods("").Watch(ctx, o)
			},
		}
		inf := cache.NewSharedIndexInformer(lw, &v1.Pod{}, resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		return inf
	})
	return f, nil
}

// trim is the factory's transform (the factory applies one transform to
// every informer, including those made with InformerFor).
func trim(obj any) (any, error) {
	switch obj.(type) {
	case *v1.Pod:
		return trimPod(obj)
	case *v1.Node:
		return trimNode(obj)
	}
	return stripManagedFields(obj)
}

func stripManagedFields(obj any) (any, error) {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		a.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}

// trimPod keeps only what scheduling reads, so that the informer's copy of
// every pod in the cluster stays small.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil
	}
	t := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Generation: p.Generation, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
			DeletionGracePeriodSeconds: p.DeletionGracePeriodSeconds, Labels: labelIntern.intern(p.Labels), OwnerReferences: p.OwnerReferences,
		},
		Spec: v1.PodSpec{
			NodeName: p.Spec.NodeName, SchedulerName: p.Spec.SchedulerName, Priority: p.Spec.Priority,
			PriorityClassName: p.Spec.PriorityClassName, PreemptionPolicy: p.Spec.PreemptionPolicy,
			Tolerations: p.Spec.Tolerations, Affinity: specIntern.affinity(p.Spec.Affinity), NodeSelector: p.Spec.NodeSelector,
			TopologySpreadConstraints: specIntern.constraints(p.Spec.TopologySpreadConstraints), Overhead: p.Spec.Overhead,
			Resources: p.Spec.Resources, SchedulingGates: p.Spec.SchedulingGates,
			Containers: trimContainers(p.Spec.Containers), InitContainers: trimContainers(p.Spec.InitContainers),
		},
		Status: v1.PodStatus{Phase: p.Status.Phase, NominatedNodeName: p.Status.NominatedNodeName, StartTime: p.Status.StartTime},
	}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			t.Spec.Volumes = append(t.Spec.Volumes, v1.Volume{Name: v.Name, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim, Ephemeral: v.Ephemeral}})
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodScheduled {
			t.Status.Conditions = append(t.Status.Conditions, c)
		}
	}
	return t, nil
}

func trimContainers(cs []v1.Container) []v1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]v1.Container, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i] = v1.Container{Name: c.Name, Image: c.Image, Ports: c.Ports, RestartPolicy: c.RestartPolicy,
			Resources: v1.ResourceRequirements{Requests: c.Resources.Requests}}
	}
	return out
}

// trimNode keeps only what scheduling reads of a node.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*v1.Node)
	if !ok {
		return obj, nil
	}
	t := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: n.Labels,
			CreationTimestamp: n.CreationTimestamp, DeletionTimestamp: n.DeletionTimestamp},
		Spec:   v1.NodeSpec{Unschedulable: n.Spec.Unschedulable, Taints: n.Spec.Taints},
		Status: v1.NodeStatus{Allocatable: n.Status.Allocatable, Images: n.Status.Images},
	}
	for _, c := range n.Status.Conditions {
		t.Status.Conditions = append(t.Status.Conditions, v1.NodeCondition{Type: c.Type, Status: c.Status})
	}
	return t, nil
}

// labelIntern shares one map among pods with equal labels: replicas of a
// workload then cost one map, and selector matches can be memoised by map
// identity (framework.MatchCache). Interned maps must never be written.
var labelIntern = &interner{m: map[string]map[string]string{}}

// maxInterned bounds the table; it is reset when full.
const maxInterned = 50000

type interner struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func (in *interner) intern(l map[string]string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	keys := make([]string, 0, len(l))
	n := 0
	for k, v := range l {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	key := b.String()
	in.mu.Lock()
	defer in.mu.Unlock()
	if m, ok := in.m[key]; ok {
		return m
	}
	if len(in.m) >= maxInterned {
		in.m = map[string]map[string]string{}
	}
	in.m[key] = l
	return l
}

// specIntern shares equal affinity and topology spread constraints among
// pods (replicas of a workload): one copy in memory instead of one per
// pod, and framework.NewPodInfo parses shared terms once. Interned values
// must never be written.
var specIntern = &specInterner{aff: map[string]*v1.Affinity{}, spread: map[string][]v1.TopologySpreadConstraint{}}

type specInterner struct {
	mu     sync.Mutex
	aff    map[string]*v1.Affinity
	spread map[string][]v1.TopologySpreadConstraint
}

// affinity returns the shared copy of a (keyed by its protobuf encoding,
// which sorts map keys and so is canonical).
func (in *specInterner) affinity(a *v1.Affinity) *v1.Affinity {
	if a == nil {
		return nil
	}
	b, err := a.Marshal()
	if err != nil {
		return a
	}
	key := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.aff[key]; ok {
		return v
	}
	if len(in.aff) >= maxInterned {
		in.aff = map[string]*v1.Affinity{}
	}
	in.aff[key] = a
	return a
}

func (in *specInterner) constraints(c []v1.TopologySpreadConstraint) []v1.TopologySpreadConstraint {
	if len(c) == 0 {
		return nil
	}
	var b []byte
	for i := range c {
		m, err := c[i].Marshal()
		if err != nil {
			return c
		}
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	key := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.spread[key]; ok {
		return v
	}
	if len(in.spread) >= maxInterned {
		in.spread = map[string][]v1.TopologySpreadConstraint{}
	}
	in.spread[key] = c
	return c
}
