package scheduler

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/apis/config"
	"drover.dev/scheduler/internal/benchload"
	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins"
)

// BenchmarkSchedulingCycle measures the scheduling cycle alone (snapshot,
// filters, scores, assume) in-process, without an apiserver: one op is
// one pod placed. Nodes and pods are those of test/bench (4 CPU nodes in
// 10 zones; pods of 100m with, for AffinityAndSpread, maxSkew 1 over
// zones plus preferred affinity and anti-affinity). b.N pods are placed
// onto a cluster that starts empty, as in scheduler_perf.
func BenchmarkSchedulingCycle(b *testing.B) {
	for _, c := range []struct {
		nodes    int
		affinity bool
	}{{500, false}, {5000, false}, {500, true}, {5000, true}} {
		kind := "Basic"
		if c.affinity {
			kind = "AffinityAndSpread"
		}
		b.Run(fmt.Sprintf("%s/%dNodes", kind, c.nodes), func(b *testing.B) {
			cfg := &config.Configuration{}
			config.SetDefaults(cfg)
			s, err := New(Options{Config: cfg, Registry: plugins.NewRegistry(), Defaults: plugins.DefaultPlugins()})
			if err != nil {
				b.Fatal(err)
			}
			fwk := s.Profiles[config.DefaultSchedulerName]
			res := v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("32Gi"), v1.ResourcePods: resource.MustParse("110")}
			for i := range c.nodes {
				name := fmt.Sprintf("node-%05d", i)
				s.Cache.AddNode(&v1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
						v1.LabelHostname: name, v1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%10), v1.LabelOSStable: "linux"}},
					Status: v1.NodeStatus{Capacity: res, Allocatable: res},
				})
			}
			// Pods go through the informer transform, as in the daemon
			// (shared label maps and constraints).
			pods := make([]*framework.PodInfo, b.N)
			for i := range pods {
				p := benchPod(i, c.affinity)
				out, err := trimPod(p)
				if err != nil {
					b.Fatal(err)
				}
				pods[i] = framework.NewPodInfo(out.(*v1.Pod))
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				pi := pods[i]
				state := framework.NewCycleState()
				state.PodInfo = pi
				s.Cache.UpdateSnapshot(s.snapshot)
				host, err := s.schedulePod(ctx, fwk, state, pi.Pod)
				if err != nil {
					b.Fatal(err)
				}
				assumed := *pi.Pod
				assumed.Spec.NodeName = host
				ai := *pi
				ai.Pod = &assumed
				if err := s.Cache.AssumePodInfo(&ai); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchPod is the benchmark workload's pod i, as the daemon would see it.
func benchPod(i int, affinity bool) *v1.Pod {
	p := benchload.Pod(fmt.Sprintf("pod-%05d", i), affinity)
	p.Namespace, p.UID = "bench", types.UID(fmt.Sprintf("uid-%d", i))
	p.Spec.SchedulerName = config.DefaultSchedulerName
	return p
}
