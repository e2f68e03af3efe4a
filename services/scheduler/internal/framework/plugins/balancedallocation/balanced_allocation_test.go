package balancedallocation

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework/plugins/noderesources"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func TestScore(t *testing.T) {
	nodes := []*v1.Node{pt.Node("cpu-heavy", "4", "8Gi", nil), pt.Node("even", "4", "8Gi", nil)}
	pods := []*v1.Pod{pt.Pod("a", "cpu-heavy", "3", "1Gi"), pt.Pod("b", "even", "1", "2Gi")}
	env := pt.New(t, []pt.Plugin{
		{Name: noderesources.Name, Factory: noderesources.New, Weight: 1},
		{Name: Name, Factory: New, Weight: 1},
	}, pods, nodes)
	// Placing 1 CPU / 2Gi: cpu-heavy → 100% cpu, 37.5% mem; even → 50%, 50%.
	got := env.Score(t, pt.Pod("p", "", "1", "2Gi"))
	if got["even"] <= got["cpu-heavy"] {
		t.Fatalf("balanced node should score higher: %v", got)
	}
	// even: balanced 100 + least-allocated 50; cpu-heavy: 1-std(1, .375)=68 + least 31.
	if got["even"] != 150 || got["cpu-heavy"] != 99 {
		t.Fatalf("scores %v", got)
	}
}
