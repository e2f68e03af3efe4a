package defaultpreemption_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
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

// seen is a Filter plugin that records the nodes it is asked about.
type seen struct {
	mu    sync.Mutex
	nodes map[string]bool
}

func (s *seen) Name() string { return "Seen" }

func (s *seen) Filter(_ context.Context, _ *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s.mu.Lock()
	s.nodes[ni.Node().Name] = true
	s.mu.Unlock()
	return nil
}

func (s *seen) reset() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.nodes
	s.nodes = map[string]bool{}
	return old
}

// fullCluster has n nodes, each full with one low-priority pod.
func fullCluster(n int) ([]*v1.Node, []*v1.Pod) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range n {
		name := fmt.Sprintf("n%03d", i)
		nodes = append(nodes, pt.Node(name, "1", "", nil))
		pods = append(pods, pt.Pod("low-"+name, name, "1", "", pt.Priority(1)))
	}
	return nodes, pods
}

func preempt(t *testing.T, env *pt.Env, rec *seen, pod *v1.Pod) (*framework.PostFilterResult, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	state := framework.NewCycleState()
	if _, st := env.FW.RunPreFilterPlugins(ctx, state, pod); !st.IsSuccess() {
		t.Fatal(st)
	}
	statuses := framework.NodeToStatusMap{}
	for _, ni := range env.Snapshot.List() {
		if st := env.FW.RunFilterPlugins(ctx, state, pod, ni); !st.IsSuccess() {
			statuses[ni.Node().Name] = st
		}
	}
	rec.reset()
	res, st := env.FW.RunPostFilterPlugins(ctx, state, pod, statuses)
	if !st.IsSuccess() {
		t.Fatalf("postfilter: %v", st)
	}
	return res, rec.reset()
}

// TestCandidateNodesLimited: the dry run stops after
// max(minCandidateNodesPercentage% of the nodes, minCandidateNodesAbsolute)
// candidates instead of evaluating every node.
func TestCandidateNodesLimited(t *testing.T) {
	nodes, pods := fullCluster(300)
	tests := []struct {
		name     string
		args     string
		min, max int
	}{
		// Parallelism 4: up to 3 more dry runs may be in flight when the
		// last needed candidate is found.
		{"defaults: 100 of 300", "", 100, 103},
		{"absolute 5", `{"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 5}`, 5, 8},
		{"percentage 20 over absolute 5", `{"minCandidateNodesPercentage": 20, "minCandidateNodesAbsolute": 5}`, 60, 63},
		{"more than there are: all", `{"minCandidateNodesPercentage": 100, "minCandidateNodesAbsolute": 1000}`, 300, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &seen{nodes: map[string]bool{}}
			objs := make([]runtime.Object, 0, len(pods))
			for _, p := range pods {
				objs = append(objs, p)
			}
			env := pt.New(t, []pt.Plugin{
				{Name: noderesources.Name, Factory: noderesources.New},
				{Name: "Seen", Factory: func(json.RawMessage, framework.Handle) (framework.Plugin, error) { return rec, nil }},
				{Name: defaultpreemption.Name, Factory: defaultpreemption.New, Args: tt.args},
			}, pods, nodes, objs...)
			preemptor := pt.Pod("p", "", "1", "", pt.Priority(10))
			res, evaluated := preempt(t, env, rec, preemptor)
			if len(evaluated) < tt.min || len(evaluated) > tt.max {
				t.Fatalf("%d nodes evaluated, want %d..%d", len(evaluated), tt.min, tt.max)
			}
			if !evaluated[res.NominatedNodeName] {
				t.Fatalf("nominated %s was not evaluated", res.NominatedNodeName)
			}
		})
	}
}

func TestInvalidCandidateArgs(t *testing.T) {
	for _, args := range []string{
		`{"minCandidateNodesPercentage": 101}`,
		`{"minCandidateNodesPercentage": -1}`,
		`{"minCandidateNodesAbsolute": -1}`,
		`{"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0}`,
	} {
		if _, err := defaultpreemption.New(json.RawMessage(args), nil); err == nil {
			t.Errorf("args %s accepted", args)
		}
	}
}

// TestPreemptedEvent: each victim gets a Preempted event naming the
// preemptor's UID and the node, as Kubernetes records.
func TestPreemptedEvent(t *testing.T) {
	nodes, pods := fullCluster(1)
	objs := []runtime.Object{pods[0]}
	rec := &seen{nodes: map[string]bool{}}
	env := pt.New(t, []pt.Plugin{
		{Name: noderesources.Name, Factory: noderesources.New},
		{Name: "Seen", Factory: func(json.RawMessage, framework.Handle) (framework.Plugin, error) { return rec, nil }},
		{Name: defaultpreemption.Name, Factory: defaultpreemption.New},
	}, pods, nodes, objs...)
	preemptor := pt.Pod("p", "", "1", "", pt.Priority(10))
	preemptor.UID = "uid-of-p"
	if res, _ := preempt(t, env, rec, preemptor); res.NominatedNodeName != "n000" {
		t.Fatalf("nominated %q", res.NominatedNodeName)
	}
	var got []string
	for len(env.Events.Events) > 0 {
		got = append(got, <-env.Events.Events)
	}
	want := "Normal Preempted Preempted by pod uid-of-p on node n000"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("events %q, want [%q]", got, want)
	}
}

// TestCandidateSearchWantsOneWithoutPDBViolation: with one candidate
// wanted, the dry run still goes on until it has a candidate whose
// victims violate no PodDisruptionBudget, and that one wins.
func TestCandidateSearchWantsOneWithoutPDBViolation(t *testing.T) {
	nodes, pods := fullCluster(20)
	for _, p := range pods {
		if p.Spec.NodeName != "n013" {
			p.Labels["app"] = "db"
		}
	}
	objs := []runtime.Object{&policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}}
	for _, p := range pods {
		objs = append(objs, p)
	}
	for range 5 { // the start node is random
		rec := &seen{nodes: map[string]bool{}}
		env := pt.New(t, []pt.Plugin{
			{Name: noderesources.Name, Factory: noderesources.New},
			{Name: "Seen", Factory: func(json.RawMessage, framework.Handle) (framework.Plugin, error) { return rec, nil }},
			{Name: defaultpreemption.Name, Factory: defaultpreemption.New, Args: `{"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1}`},
		}, pods, nodes, objs...)
		if res, _ := preempt(t, env, rec, pt.Pod("p", "", "1", "", pt.Priority(10))); res.NominatedNodeName != "n013" {
			t.Fatalf("nominated %q, want n013 (the only node without PDB-protected pods)", res.NominatedNodeName)
		}
	}
}
