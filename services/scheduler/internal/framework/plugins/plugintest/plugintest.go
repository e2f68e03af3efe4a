// Package plugintest runs plugins through a real framework over a snapshot
// built from test pods and nodes, with a fake clientset behind the
// listers, so that plugin tests exercise the same code paths as the
// scheduler.
package plugintest

import (
	"context"
	"encoding/json"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"drover.dev/scheduler/internal/apis/config"
	"drover.dev/scheduler/internal/cache"
	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/defaultbinder"
)

// Env is a framework running the plugins under test.
type Env struct {
	FW       *framework.Framework
	Snapshot *cache.Snapshot
	Client   *fake.Clientset
	// Cache feeds Snapshot (NewLive only): change it, then Sync.
	Cache *cache.Cache
	// Events holds the events plugins recorded.
	Events *record.FakeRecorder
}

// Plugin enables one plugin with a weight and optional args (JSON).
type Plugin struct {
	Name    string
	Factory framework.PluginFactory
	Weight  int32
	Args    string
}

// New builds the framework over pods and nodes; objs seed the fake
// clientset (PVs, PDBs, namespaces...).
func New(tb testing.TB, plugins []Plugin, pods []*v1.Pod, nodes []*v1.Node, objs ...runtime.Object) *Env {
	tb.Helper()
	return newEnv(tb, plugins, cache.NewSnapshot(pods, nodes), objs)
}

// NewLive is New with the snapshot kept by a scheduler cache, as in the
// scheduler: plugins see the same NodeInfos change from cycle to cycle.
func NewLive(tb testing.TB, plugins []Plugin, pods []*v1.Pod, nodes []*v1.Node, objs ...runtime.Object) *Env {
	tb.Helper()
	c := cache.New()
	for _, n := range nodes {
		c.AddNode(n)
	}
	for _, p := range pods {
		c.AddPod(p)
	}
	e := newEnv(tb, plugins, cache.NewEmptySnapshot(), objs)
	e.Cache = c
	e.Sync()
	return e
}

// Sync brings the snapshot up to date with the cache (NewLive).
func (e *Env) Sync() { e.Cache.UpdateSnapshot(e.Snapshot) }

func newEnv(tb testing.TB, plugins []Plugin, snap *cache.Snapshot, objs []runtime.Object) *Env {
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	reg := framework.Registry{defaultbinder.Name: defaultbinder.New}
	defaults := []framework.DefaultPlugin{}
	profile := &config.Profile{SchedulerName: "default-scheduler"}
	for _, p := range plugins {
		reg[p.Name] = p.Factory
		defaults = append(defaults, framework.DefaultPlugin{Name: p.Name, Weight: p.Weight})
		if p.Args != "" {
			profile.PluginConfig = append(profile.PluginConfig, config.PluginConfig{Name: p.Name, Args: json.RawMessage(p.Args)})
		}
	}
	defaults = append(defaults, framework.DefaultPlugin{Name: defaultbinder.Name})
	events := record.NewFakeRecorder(1000)
	fw, err := framework.New(reg, defaults, profile, framework.Options{Snapshot: snap, Client: client, Informers: factory, Parallelism: 4, EventRecorder: events})
	if err != nil {
		tb.Fatalf("framework: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &Env{FW: fw, Snapshot: snap, Client: client, Events: events}
}

// Filter runs PreFilter and Filter for every node: the map holds each
// node's status (nil when it passes).
func (e *Env) Filter(tb testing.TB, pod *v1.Pod) map[string]*framework.Status {
	tb.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	out := map[string]*framework.Status{}
	res, st := e.FW.RunPreFilterPlugins(ctx, state, pod)
	for _, ni := range e.Snapshot.List() {
		name := ni.Node().Name
		switch {
		case !st.IsSuccess():
			out[name] = st
		case res != nil && res.NodeNames != nil:
			if _, ok := res.NodeNames[name]; !ok {
				out[name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "not in PreFilter result")
				continue
			}
			out[name] = e.FW.RunFilterPlugins(ctx, state, pod, ni)
		default:
			out[name] = e.FW.RunFilterPlugins(ctx, state, pod, ni)
		}
	}
	return out
}

// Score runs PreFilter, PreScore and Score over every node and returns the
// weighted totals by node name.
func (e *Env) Score(tb testing.TB, pod *v1.Pod) map[string]int64 {
	tb.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st := e.FW.RunPreFilterPlugins(ctx, state, pod); !st.IsSuccess() && !st.IsRejected() {
		tb.Fatalf("prefilter: %v", st)
	}
	nodes := e.Snapshot.List()
	if st := e.FW.RunPreScorePlugins(ctx, state, pod, nodes); !st.IsSuccess() {
		tb.Fatalf("prescore: %v", st)
	}
	totals, st := e.FW.RunScorePlugins(ctx, state, pod, nodes)
	if !st.IsSuccess() {
		tb.Fatalf("score: %v", st)
	}
	out := map[string]int64{}
	for i, ni := range nodes {
		out[ni.Node().Name] = totals[i]
	}
	return out
}

// Message is a status's message ("" for success).
func Message(st *framework.Status) string { return st.Message() }

// Node returns a node with cpu/memory allocatable, 110 pods and labels.
func Node(name, cpu, mem string, labels map[string]string, mutate ...func(*v1.Node)) *v1.Node {
	l := map[string]string{v1.LabelHostname: name}
	for k, v := range labels {
		l[k] = v
	}
	rl := v1.ResourceList{v1.ResourcePods: resource.MustParse("110")}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}, Status: v1.NodeStatus{Capacity: rl, Allocatable: rl}}
	for _, m := range mutate {
		m(n)
	}
	return n
}

// Pod returns a pod in namespace "default" with one container requesting
// cpu/memory ("" for none), on nodeName ("" for pending).
func Pod(name, nodeName, cpu, mem string, mutate ...func(*v1.Pod)) *v1.Pod {
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{}},
		Spec: v1.PodSpec{NodeName: nodeName, SchedulerName: "default-scheduler",
			Containers: []v1.Container{{Name: "c", Image: "img", Resources: v1.ResourceRequirements{Requests: rl}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// Labels sets pod labels.
func Labels(kv ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

// Priority sets spec.priority.
func Priority(v int32) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Priority = &v }
}
