// Package benchload is the workload of the scheduler's benchmarks, in the
// style of Kubernetes' scheduler_perf: the in-process cycle benchmark and
// the end-to-end one place the same pods, so their numbers compare.
package benchload

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod is one benchmark pod: 100m CPU and 64Mi, and with affinity a
// maxSkew 1 spread over zones plus preferred zone affinity to the tier and
// preferred anti-affinity per host. (Preferred, not required, affinity: a
// required zone affinity to the group itself cannot be met together with
// maxSkew 1 across zones once the first pod has picked a zone.)
func Pod(name string, affinity bool) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "web", Image: "registry.example/web:1.0",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
				v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
	if affinity {
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel,
		}}
		p.Spec.Affinity = &v1.Affinity{
			PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
				Weight: 50, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, TopologyKey: v1.LabelTopologyZone},
			}}},
			PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
				Weight: 100, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: sel, TopologyKey: v1.LabelHostname},
			}}},
		}
	}
	return p
}
