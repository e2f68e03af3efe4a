package nodeunschedulable

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func TestFilter(t *testing.T) {
	cordoned := func(n *v1.Node) { n.Spec.Unschedulable = true }
	tolerates := func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
	}
	tests := []struct {
		name string
		node *v1.Node
		pod  *v1.Pod
		want framework.Code
	}{
		{"schedulable node", pt.Node("n", "1", "1Gi", nil), pt.Pod("p", "", "", ""), framework.Success},
		{"cordoned node", pt.Node("n", "1", "1Gi", nil, cordoned), pt.Pod("p", "", "", ""), framework.UnschedulableAndUnresolvable},
		{"cordoned node, tolerated", pt.Node("n", "1", "1Gi", nil, cordoned), pt.Pod("p", "", "", "", tolerates), framework.Success},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, nil, []*v1.Node{tt.node})
			st := env.Filter(t, tt.pod)["n"]
			if st.Code() != tt.want {
				t.Fatalf("got %v, want %v", st, tt.want)
			}
			if st.Code() != framework.Success && st.Message() != ErrReasonUnschedulable {
				t.Fatalf("reason %q", st.Message())
			}
		})
	}
}
