package noderesources

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func initContainer(cpu string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "init", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}})
	}
}

func overhead(cpu string) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)} }
}

func TestFilter(t *testing.T) {
	// Node: 2 CPU, 4Gi, 110 pods; 1 CPU / 1Gi already requested.
	existing := []*v1.Pod{pt.Pod("old", "n", "1", "1Gi")}
	tests := []struct {
		name string
		pod  *v1.Pod
		want []string
	}{
		{"fits", pt.Pod("p", "", "500m", "1Gi"), nil},
		{"exactly fits", pt.Pod("p", "", "1", "3Gi"), nil},
		{"cpu", pt.Pod("p", "", "1100m", ""), []string{"Insufficient cpu"}},
		{"cpu and memory", pt.Pod("p", "", "2", "4Gi"), []string{"Insufficient cpu", "Insufficient memory"}},
		{"init container larger than app containers", pt.Pod("p", "", "100m", "", initContainer("1500m")), []string{"Insufficient cpu"}},
		{"init container smaller", pt.Pod("p", "", "500m", "", initContainer("200m")), nil},
		{"overhead counts", pt.Pod("p", "", "800m", "", overhead("300m")), []string{"Insufficient cpu"}},
		{"scalar resource", pt.Pod("p", "", "", "", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}), []string{"Insufficient example.com/gpu"}},
		{"best effort always fits resources", pt.Pod("p", "", "", ""), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, existing, []*v1.Node{pt.Node("n", "2", "4Gi", nil)})
			st := env.Filter(t, tt.pod)["n"]
			if !reflect.DeepEqual(st.Reasons(), tt.want) {
				t.Fatalf("reasons %q, want %q", st.Reasons(), tt.want)
			}
		})
	}
}

func TestFilterTooManyPods(t *testing.T) {
	n := pt.Node("n", "2", "4Gi", nil, func(n *v1.Node) { n.Status.Allocatable[v1.ResourcePods] = resource.MustParse("1") })
	env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New}}, []*v1.Pod{pt.Pod("old", "n", "", "")}, []*v1.Node{n})
	if got := env.Filter(t, pt.Pod("p", "", "", ""))["n"].Message(); got != "Too many pods" {
		t.Fatalf("got %q", got)
	}
}

func TestScoreStrategies(t *testing.T) {
	// "busy" has 3 of 4 CPU and 6 of 8Gi requested; "idle" nothing.
	nodes := []*v1.Node{pt.Node("busy", "4", "8Gi", nil), pt.Node("idle", "4", "8Gi", nil)}
	pods := []*v1.Pod{pt.Pod("old", "busy", "3", "6Gi")}
	pod := pt.Pod("p", "", "1", "2Gi")
	tests := []struct {
		name       string
		args       string
		busy, idle int64
	}{
		// LeastAllocated: (free after placing)/allocatable, averaged.
		{"least allocated", "", 0, 75},
		{"most allocated", `{"scoringStrategy":{"type":"MostAllocated"}}`, 100, 25},
		{"cpu weighted", `{"scoringStrategy":{"type":"LeastAllocated","resources":[{"name":"cpu","weight":3},{"name":"memory","weight":1}]}}`, 0, 75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := pt.New(t, []pt.Plugin{{Name: Name, Factory: New, Weight: 1, Args: tt.args}}, pods, nodes)
			got := env.Score(t, pod)
			if got["busy"] != tt.busy || got["idle"] != tt.idle {
				t.Fatalf("scores %v, want busy=%d idle=%d", got, tt.busy, tt.idle)
			}
		})
	}
}

func TestArgsValidation(t *testing.T) {
	for _, args := range []string{`{"scoringStrategy":{"type":"Nope"}}`, `{"unknown":1}`, `{"scoringStrategy":{"resources":[{"name":"cpu","weight":101}]}}`} {
		if _, err := New([]byte(args), nil); err == nil {
			t.Errorf("args %s accepted", args)
		}
	}
}
