package interpodaffinity

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func nodes() []*v1.Node {
	return []*v1.Node{
		pt.Node("a1", "4", "", map[string]string{v1.LabelTopologyZone: "a"}),
		pt.Node("a2", "4", "", map[string]string{v1.LabelTopologyZone: "a"}),
		pt.Node("b1", "4", "", map[string]string{v1.LabelTopologyZone: "b"}),
		pt.Node("nozone", "4", "", nil),
	}
}

func term(key string, kv ...string) v1.PodAffinityTerm {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: m}, TopologyKey: key}
}

func affinity(t v1.PodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &v1.Affinity{}
		}
		p.Spec.Affinity.PodAffinity = &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{t}}
	}
}

func antiAffinity(t v1.PodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &v1.Affinity{}
		}
		p.Spec.Affinity.PodAntiAffinity = &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{t}}
	}
}

func TestFilter(t *testing.T) {
	db := pt.Pod("db", "a1", "", "", pt.Labels("app", "db"))
	guard := pt.Pod("guard", "b1", "", "", pt.Labels("app", "guard"), antiAffinity(term(v1.LabelTopologyZone, "app", "web")))
	tests := []struct {
		name  string
		pods  []*v1.Pod
		pod   *v1.Pod
		pass  []string
		fails map[string]string
	}{
		{
			name:  "affinity to db's zone",
			pods:  []*v1.Pod{db},
			pod:   pt.Pod("p", "", "", "", affinity(term(v1.LabelTopologyZone, "app", "db"))),
			pass:  []string{"a1", "a2"},
			fails: map[string]string{"b1": ErrReasonAffinityRulesNotMatch, "nozone": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:  "affinity to nothing, pod does not match itself",
			pod:   pt.Pod("p", "", "", "", affinity(term(v1.LabelTopologyZone, "app", "db"))),
			fails: map[string]string{"a1": ErrReasonAffinityRulesNotMatch, "b1": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:  "first pod of a self-affine group goes anywhere with the key",
			pod:   pt.Pod("p", "", "", "", pt.Labels("app", "db"), affinity(term(v1.LabelTopologyZone, "app", "db"))),
			pass:  []string{"a1", "a2", "b1"},
			fails: map[string]string{"nozone": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:  "anti-affinity to db's zone",
			pods:  []*v1.Pod{db},
			pod:   pt.Pod("p", "", "", "", antiAffinity(term(v1.LabelTopologyZone, "app", "db"))),
			pass:  []string{"b1", "nozone"},
			fails: map[string]string{"a1": ErrReasonAntiAffinityRulesNotMatch, "a2": ErrReasonAntiAffinityRulesNotMatch},
		},
		{
			name:  "anti-affinity by hostname",
			pods:  []*v1.Pod{db},
			pod:   pt.Pod("p", "", "", "", antiAffinity(term(v1.LabelHostname, "app", "db"))),
			pass:  []string{"a2", "b1", "nozone"},
			fails: map[string]string{"a1": ErrReasonAntiAffinityRulesNotMatch},
		},
		{
			name:  "existing pod's anti-affinity keeps web out of zone b",
			pods:  []*v1.Pod{guard},
			pod:   pt.Pod("p", "", "", "", pt.Labels("app", "web")),
			pass:  []string{"a1", "a2", "nozone"},
			fails: map[string]string{"b1": ErrReasonExistingAntiAffinityRulesNotMatch},
		},
		{
			name: "other namespace does not match",
			pods: []*v1.Pod{pt.Pod("db2", "a1", "", "", pt.Labels("app", "db"), func(p *v1.Pod) { p.Namespace = "other" })},
			pod:  pt.Pod("p", "", "", "", antiAffinity(term(v1.LabelTopologyZone, "app", "db"))),
			pass: []string{"a1", "a2", "b1", "nozone"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, tt.pods, nodes())
			got := env.Filter(t, tt.pod)
			for _, n := range tt.pass {
				if !got[n].IsSuccess() {
					t.Errorf("node %s: %v, want pass", n, got[n])
				}
			}
			for n, reason := range tt.fails {
				if got[n].Message() != reason {
					t.Errorf("node %s: %q, want %q", n, got[n].Message(), reason)
				}
			}
		})
	}
}

func TestScorePreferred(t *testing.T) {
	pods := []*v1.Pod{pt.Pod("db", "a1", "", "", pt.Labels("app", "db")), pt.Pod("web", "b1", "", "", pt.Labels("app", "web"))}
	pod := pt.Pod("p", "", "", "", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{
			PodAffinity:     &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term(v1.LabelTopologyZone, "app", "db")}}},
			PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term(v1.LabelTopologyZone, "app", "web")}}},
		}
	})
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}, pods, nodes())
	got := env.Score(t, pod)
	// zone a: +10, zone b: -10, nozone: 0 → normalised 100, 0, 50.
	if got["a1"] != 100 || got["a2"] != 100 || got["b1"] != 0 || got["nozone"] != 50 {
		t.Fatalf("scores %v", got)
	}
}
