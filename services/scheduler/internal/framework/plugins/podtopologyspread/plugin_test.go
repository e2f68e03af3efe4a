package podtopologyspread

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func zoneNodes() []*v1.Node {
	var nodes []*v1.Node
	for _, n := range []struct{ name, zone string }{{"a1", "a"}, {"a2", "a"}, {"b1", "b"}, {"c1", "c"}} {
		nodes = append(nodes, pt.Node(n.name, "4", "", map[string]string{v1.LabelTopologyZone: n.zone}))
	}
	return append(nodes, pt.Node("nolabel", "4", "", nil))
}

func spread(maxSkew int32, key string, when v1.UnsatisfiableConstraintAction) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
			MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		})
	}
}

func existing(placement map[string]int) []*v1.Pod {
	var pods []*v1.Pod
	for node, n := range placement {
		for i := range n {
			pods = append(pods, pt.Pod(fmt.Sprintf("%s-%d", node, i), node, "", "", pt.Labels("app", "web")))
		}
	}
	return pods
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name      string
		placement map[string]int
		pod       *v1.Pod
		want      map[string]framework.Code
	}{
		{
			name:      "empty cluster: any labelled node",
			placement: nil,
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelTopologyZone, v1.DoNotSchedule)),
			want:      map[string]framework.Code{"a1": framework.Success, "b1": framework.Success, "c1": framework.Success, "nolabel": framework.UnschedulableAndUnresolvable},
		},
		{
			name:      "zone a has one more: only b and c",
			placement: map[string]int{"a1": 1},
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelTopologyZone, v1.DoNotSchedule)),
			want:      map[string]framework.Code{"a1": framework.Unschedulable, "a2": framework.Unschedulable, "b1": framework.Success, "c1": framework.Success},
		},
		{
			name:      "maxSkew 2 allows a",
			placement: map[string]int{"a1": 1},
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(2, v1.LabelTopologyZone, v1.DoNotSchedule)),
			want:      map[string]framework.Code{"a1": framework.Success, "b1": framework.Success},
		},
		{
			name:      "pod not matching its own selector does not count itself",
			placement: map[string]int{"a1": 1},
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "other"), spread(1, v1.LabelTopologyZone, v1.DoNotSchedule)),
			want:      map[string]framework.Code{"a1": framework.Success, "b1": framework.Success},
		},
		{
			name:      "ScheduleAnyway does not filter",
			placement: map[string]int{"a1": 3},
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelTopologyZone, v1.ScheduleAnyway)),
			want:      map[string]framework.Code{"a1": framework.Success, "nolabel": framework.Success},
		},
		{
			name:      "hostname constraint",
			placement: map[string]int{"a1": 1, "a2": 1, "b1": 1},
			pod:       pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelHostname, v1.DoNotSchedule)),
			want:      map[string]framework.Code{"a1": framework.Unschedulable, "c1": framework.Success, "nolabel": framework.Success},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, existing(tt.placement), zoneNodes())
			got := env.Filter(t, tt.pod)
			for n, want := range tt.want {
				if got[n].Code() != want {
					t.Errorf("node %s: %v, want %v", n, got[n], want)
				}
			}
			if st := got["nolabel"]; tt.want["nolabel"] == framework.UnschedulableAndUnresolvable && st.Message() != ErrReasonNodeLabelNotMatch {
				t.Errorf("reason %q", st.Message())
			}
		})
	}
}

func TestScorePrefersEmptierDomains(t *testing.T) {
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}, existing(map[string]int{"a1": 2, "b1": 1}), zoneNodes())
	got := env.Score(t, pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelTopologyZone, v1.ScheduleAnyway)))
	if !(got["c1"] > got["b1"] && got["b1"] > got["a1"]) {
		t.Fatalf("want c1 > b1 > a1: %v", got)
	}
	if got["nolabel"] != 0 {
		t.Fatalf("node without the key should score 0: %v", got)
	}
}

func TestSystemDefaultsFromOwner(t *testing.T) {
	isController := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	owned := func(p *v1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: &isController}}
	}
	pods := existing(map[string]int{"a1": 2})
	for _, p := range pods {
		owned(p)
	}
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}, pods, zoneNodes(), []runtime.Object{rs}...)
	got := env.Score(t, pt.Pod("p", "", "", "", pt.Labels("app", "web"), owned))
	if got["a1"] >= got["b1"] {
		t.Fatalf("default constraints should spread away from a1: %v", got)
	}
}

func TestArgs(t *testing.T) {
	if _, err := New([]byte(`{"defaultingType":"List","defaultConstraints":[{"maxSkew":0,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway"}]}`), nil); err == nil {
		t.Fatal("maxSkew 0 accepted")
	}
	if _, err := New([]byte(`{"defaultConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway"}]}`), nil); err == nil {
		t.Fatal("constraints with System defaulting accepted")
	}
}
