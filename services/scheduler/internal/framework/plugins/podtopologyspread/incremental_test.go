package podtopologyspread

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

// TestCountsKeptAcrossCycles changes a live cache step by step (pods come
// and go, nodes change zone or lose the label) and checks that the plugin,
// which keeps counts across cycles, filters exactly as a plugin that scans
// every pod over a fresh snapshot of the same cluster.
func TestCountsKeptAcrossCycles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var nodes []*v1.Node
	for i := range 12 {
		nodes = append(nodes, pt.Node(fmt.Sprintf("n%02d", i), "8", "", map[string]string{v1.LabelTopologyZone: fmt.Sprintf("z%d", i%3)}))
	}
	plugins := []pt.Plugin{{Name: Name, Factory: New}}
	live := pt.NewLive(t, plugins, nil, nodes)
	scanning := []pt.Plugin{{Name: Name, Factory: func(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
		p, err := New(raw, h)
		if err == nil {
			p.(*PodTopologySpread).counts = nil
		}
		return p, err
	}}}
	pods := map[string]*v1.Pod{}
	incoming := []*v1.Pod{
		pt.Pod("p", "", "", "", pt.Labels("app", "web"), spread(1, v1.LabelTopologyZone, v1.DoNotSchedule)),
		pt.Pod("q", "", "", "", pt.Labels("app", "web"), spread(2, v1.LabelHostname, v1.DoNotSchedule), spread(1, v1.LabelTopologyZone, v1.DoNotSchedule)),
	}
	for step := range 150 {
		switch r := rng.IntN(10); {
		case r < 7 || len(pods) == 0:
			app := []string{"web", "db"}[rng.IntN(2)]
			p := pt.Pod(fmt.Sprintf("e%d", step), nodes[rng.IntN(len(nodes))].Name, "", "", pt.Labels("app", app))
			pods[p.Name] = p
			live.Cache.AddPod(p)
		case r < 9:
			for name, p := range pods {
				live.Cache.RemovePod(p)
				delete(pods, name)
				break
			}
		default:
			i := rng.IntN(len(nodes))
			n := nodes[i].DeepCopy()
			if rng.IntN(4) == 0 {
				delete(n.Labels, v1.LabelTopologyZone)
			} else {
				n.Labels[v1.LabelTopologyZone] = fmt.Sprintf("z%d", rng.IntN(3))
			}
			nodes[i] = n
			live.Cache.UpdateNode(nil, n)
		}
		live.Sync()
		var list []*v1.Pod
		for _, p := range pods {
			list = append(list, p)
		}
		fresh := pt.New(t, scanning, list, nodes)
		for _, pod := range incoming {
			got, want := live.Filter(t, pod), fresh.Filter(t, pod)
			for name, st := range want {
				if got[name].Code() != st.Code() {
					t.Fatalf("step %d pod %s node %s: got %v, want %v", step, pod.Name, name, got[name], st)
				}
			}
		}
	}

}

// TestNothingAndEverythingCountedApart: a constraint without a selector
// (matches nothing) and one with an empty selector (matches every pod)
// must not share counts.
func TestNothingAndEverythingCountedApart(t *testing.T) {
	nodes := zoneNodes()
	pods := existing(map[string]int{"a1": 2})
	env := pt.NewLive(t, []pt.Plugin{{Name: Name, Factory: New}}, pods, nodes)
	withSelector := func(sel *metav1.LabelSelector) func(*v1.Pod) {
		return func(p *v1.Pod) {
			p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel}}
		}
	}
	nothing := pt.Pod("n", "", "", "", withSelector(nil))
	everything := pt.Pod("e", "", "", "", withSelector(&metav1.LabelSelector{}))
	if st := env.Filter(t, nothing)["a1"]; !st.IsSuccess() {
		t.Fatalf("selector of nothing: a1 %v", st)
	}
	if st := env.Filter(t, everything)["a1"]; st.IsSuccess() {
		t.Fatal("empty selector: a1 passes with 2 pods against 0 elsewhere")
	}
	if st := env.Filter(t, nothing)["a1"]; !st.IsSuccess() {
		t.Fatalf("selector of nothing again: a1 %v", st)
	}
}
