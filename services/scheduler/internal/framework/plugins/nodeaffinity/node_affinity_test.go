package nodeaffinity

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func required(terms ...v1.NodeSelectorTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms}}}
	}
}

func expr(key string, op v1.NodeSelectorOperator, vals ...string) v1.NodeSelectorTerm {
	return v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}
}

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{
		pt.Node("a", "1", "", map[string]string{"zone": "z1", "disk": "ssd"}),
		pt.Node("b", "1", "", map[string]string{"zone": "z2"}),
		pt.Node("c", "1", "", nil),
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want []string // nodes that pass
	}{
		{"no constraints", pt.Pod("p", "", "", ""), []string{"a", "b", "c"}},
		{"nodeSelector", pt.Pod("p", "", "", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), []string{"a"}},
		{"In", pt.Pod("p", "", "", "", required(expr("zone", v1.NodeSelectorOpIn, "z1", "z2"))), []string{"a", "b"}},
		{"NotIn", pt.Pod("p", "", "", "", required(expr("zone", v1.NodeSelectorOpNotIn, "z1"))), []string{"b", "c"}},
		{"DoesNotExist", pt.Pod("p", "", "", "", required(expr("zone", v1.NodeSelectorOpDoesNotExist))), []string{"c"}},
		{"terms are ORed", pt.Pod("p", "", "", "", required(expr("disk", v1.NodeSelectorOpExists), expr("zone", v1.NodeSelectorOpIn, "z2"))), []string{"a", "b"}},
		{"selector and affinity are ANDed", pt.Pod("p", "", "", "", required(expr("zone", v1.NodeSelectorOpExists)), func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "z2"} }), []string{"b"}},
		{"metadata.name field", pt.Pod("p", "", "", "", required(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"c"}}}})), []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, nodes)
			got := env.Filter(t, tt.pod)
			pass := map[string]bool{}
			for _, n := range tt.want {
				pass[n] = true
			}
			for n, st := range got {
				if st.IsSuccess() != pass[n] {
					t.Errorf("node %s: %v, want pass=%v", n, st, pass[n])
				}
				if !st.IsSuccess() && st.Code() == framework.UnschedulableAndUnresolvable && st.Message() != ErrReasonPod && st.Message() != "not in PreFilter result" {
					t.Errorf("node %s reason %q", n, st.Message())
				}
			}
		})
	}
}

func TestScorePreferredTerms(t *testing.T) {
	nodes := []*v1.Node{
		pt.Node("a", "1", "", map[string]string{"zone": "z1", "disk": "ssd"}),
		pt.Node("b", "1", "", map[string]string{"zone": "z1"}),
		pt.Node("c", "1", "", nil),
	}
	pod := pt.Pod("p", "", "", "", func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
			{Weight: 3, Preference: expr("zone", v1.NodeSelectorOpIn, "z1")},
			{Weight: 1, Preference: expr("disk", v1.NodeSelectorOpIn, "ssd")},
		}}}
	})
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 2}}, nil, nodes)
	got := env.Score(t, pod)
	// a: 4 → 100, b: 3 → 75, c: 0; weight 2.
	if got["a"] != 200 || got["b"] != 150 || got["c"] != 0 {
		t.Fatalf("scores %v", got)
	}
}
