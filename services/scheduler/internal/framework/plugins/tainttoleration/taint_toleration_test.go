package tainttoleration

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func taints(ts ...v1.Taint) func(*v1.Node) { return func(n *v1.Node) { n.Spec.Taints = ts } }

func tolerations(ts ...v1.Toleration) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Tolerations = ts }
}

func TestFilter(t *testing.T) {
	gpu := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}
	exec := v1.Taint{Key: "evict", Value: "now", Effect: v1.TaintEffectNoExecute}
	soft := v1.Taint{Key: "spot", Effect: v1.TaintEffectPreferNoSchedule}
	tests := []struct {
		name  string
		taint []v1.Taint
		tol   []v1.Toleration
		want  string
	}{
		{"no taints", nil, nil, ""},
		{"NoSchedule untolerated", []v1.Taint{gpu}, nil, "node(s) had untolerated taint {dedicated: gpu}"},
		{"NoExecute untolerated", []v1.Taint{exec}, nil, "node(s) had untolerated taint {evict: now}"},
		{"PreferNoSchedule does not filter", []v1.Taint{soft}, nil, ""},
		{"tolerated by Equal", []v1.Taint{gpu}, []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}, ""},
		{"tolerated by Exists without effect", []v1.Taint{gpu}, []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpExists}}, ""},
		{"wrong value", []v1.Taint{gpu}, []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "cpu"}}, "node(s) had untolerated taint {dedicated: gpu}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, []*v1.Node{pt.Node("n", "1", "", nil, taints(tt.taint...))})
			if got := env.Filter(t, pt.Pod("p", "", "", "", tolerations(tt.tol...)))["n"].Message(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScorePrefersFewerPreferNoScheduleTaints(t *testing.T) {
	soft := func(k string) v1.Taint { return v1.Taint{Key: k, Effect: v1.TaintEffectPreferNoSchedule} }
	nodes := []*v1.Node{
		pt.Node("clean", "1", "", nil),
		pt.Node("one", "1", "", nil, taints(soft("a"))),
		pt.Node("two", "1", "", nil, taints(soft("a"), soft("b"))),
	}
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}, nil, nodes)
	got := env.Score(t, pt.Pod("p", "", "", ""))
	if got["clean"] != 100 || got["one"] != 50 || got["two"] != 0 {
		t.Fatalf("scores %v", got)
	}
	// Tolerating "a" makes "one" as good as "clean".
	got = env.Score(t, pt.Pod("p", "", "", "", tolerations(v1.Toleration{Key: "a", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectPreferNoSchedule})))
	if got["clean"] != 100 || got["one"] != 100 || got["two"] != 0 {
		t.Fatalf("scores with toleration %v", got)
	}
}
