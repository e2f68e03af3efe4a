package scheduler

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/scheduler/internal/framework"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	pct := func(v int32) *int32 { return &v }
	tests := []struct {
		name    string
		global  int32
		profile *int32
		nodes   int
		want    int
	}{
		{"few nodes: all", 0, nil, 99, 99},
		{"adaptive 500 nodes: 46%", 0, nil, 500, 230},
		{"adaptive 5000 nodes: 10%", 0, nil, 5000, 500},
		{"adaptive floor 5%", 0, nil, 10000, 500},
		{"never below 100", 0, nil, 150, 100},
		{"configured 100%", 100, nil, 5000, 5000},
		{"configured 20%", 20, nil, 1000, 200},
		{"profile overrides", 100, pct(10), 5000, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Scheduler{percentageOfNodesToScore: tt.global}
			if got := s.numFeasibleNodesToFind(tt.profile, tt.nodes); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestSelectHostBreaksTiesRandomly(t *testing.T) {
	var nodes []*framework.NodeInfo
	for _, n := range []string{"a", "b", "c"} {
		ni := framework.NewNodeInfo()
		ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
		nodes = append(nodes, ni)
	}
	if got := selectHost(nodes, []int64{1, 5, 3}); got != "b" {
		t.Fatalf("got %s", got)
	}
	seen := map[string]bool{}
	for range 200 {
		seen[selectHost(nodes, []int64{5, 5, 1})] = true
	}
	if !seen["a"] || !seen["b"] || seen["c"] {
		t.Fatalf("ties not spread: %v", seen)
	}
}
