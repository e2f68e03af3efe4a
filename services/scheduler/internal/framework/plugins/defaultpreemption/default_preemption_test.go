package defaultpreemption_test

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/defaultpreemption"
	"drover.dev/scheduler/internal/framework/plugins/noderesources"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func TestPreemption(t *testing.T) {
	nodes := []*v1.Node{pt.Node("a", "2", "", nil), pt.Node("b", "2", "", nil)}
	tests := []struct {
		name        string
		pods        []*v1.Pod
		pdbs        []runtime.Object
		preemptor   *v1.Pod
		wantNode    string
		wantDeleted []string
	}{
		{
			name: "lowest priority victims",
			pods: []*v1.Pod{
				pt.Pod("a-low", "a", "1", "", pt.Priority(1)), pt.Pod("a-mid", "a", "1", "", pt.Priority(5)),
				pt.Pod("b-mid1", "b", "1", "", pt.Priority(5)), pt.Pod("b-mid2", "b", "1", "", pt.Priority(5)),
			},
			preemptor:   pt.Pod("p", "", "1", "", pt.Priority(10)),
			wantNode:    "a",
			wantDeleted: []string{"a-low"},
		},
		{
			name: "fewest victims when priorities tie",
			pods: []*v1.Pod{
				pt.Pod("a-1", "a", "1", "", pt.Priority(1)), pt.Pod("a-2", "a", "1", "", pt.Priority(1)),
				pt.Pod("b-1", "b", "2", "", pt.Priority(1)),
			},
			preemptor:   pt.Pod("p", "", "2", "", pt.Priority(10)),
			wantNode:    "b",
			wantDeleted: []string{"b-1"},
		},
		{
			name: "PDB-protected pods are spared",
			pods: []*v1.Pod{
				pt.Pod("a-1", "a", "2", "", pt.Priority(1), pt.Labels("app", "db")),
				pt.Pod("b-1", "b", "2", "", pt.Priority(1)),
			},
			pdbs: []runtime.Object{&policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
				Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
				Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
			}},
			preemptor:   pt.Pod("p", "", "2", "", pt.Priority(10)),
			wantNode:    "b",
			wantDeleted: []string{"b-1"},
		},
		{
			name:      "equal priority cannot preempt",
			pods:      []*v1.Pod{pt.Pod("a-1", "a", "2", "", pt.Priority(10)), pt.Pod("b-1", "b", "2", "", pt.Priority(10))},
			preemptor: pt.Pod("p", "", "2", "", pt.Priority(10)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append([]runtime.Object{}, tt.pdbs...)
			for _, p := range tt.pods {
				objs = append(objs, p)
			}
			env := pt.New(t, []pt.Plugin{
				{Name: noderesources.Name, Factory: noderesources.New},
				{Name: defaultpreemption.Name, Factory: defaultpreemption.New},
			}, tt.pods, nodes, objs...)
			ctx := context.Background()
			state := framework.NewCycleState()
			if _, st := env.FW.RunPreFilterPlugins(ctx, state, tt.preemptor); !st.IsSuccess() {
				t.Fatal(st)
			}
			statuses := framework.NodeToStatusMap{}
			for _, ni := range env.Snapshot.List() {
				if st := env.FW.RunFilterPlugins(ctx, state, tt.preemptor, ni); !st.IsSuccess() {
					statuses[ni.Node().Name] = st
				}
			}
			res, st := env.FW.RunPostFilterPlugins(ctx, state, tt.preemptor, statuses)
			if tt.wantNode == "" {
				if st.IsSuccess() {
					t.Fatalf("preempted on %v", res)
				}
				want := "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
				if st.Message() != want {
					t.Fatalf("message %q", st.Message())
				}
				return
			}
			if !st.IsSuccess() || res.NominatedNodeName != tt.wantNode {
				t.Fatalf("result %+v %v, want node %s", res, st, tt.wantNode)
			}
			left, _ := env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			present := map[string]bool{}
			for _, p := range left.Items {
				present[p.Name] = true
			}
			for _, v := range tt.wantDeleted {
				if present[v] {
					t.Errorf("victim %s not deleted", v)
				}
			}
			if len(left.Items) != len(tt.pods)-len(tt.wantDeleted) {
				t.Errorf("%d pods left, want %d", len(left.Items), len(tt.pods)-len(tt.wantDeleted))
			}
		})
	}
}
