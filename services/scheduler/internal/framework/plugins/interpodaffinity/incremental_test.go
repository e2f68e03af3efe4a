package interpodaffinity

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
	pt "drover.dev/scheduler/internal/framework/plugins/plugintest"
)

func preferred(aff, anti []v1.WeightedPodAffinityTerm, required []v1.PodAffinityTerm) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{
			PodAffinity:     &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: aff, RequiredDuringSchedulingIgnoredDuringExecution: required},
			PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: anti},
		}
	}
}

// TestScoresKeptAcrossCycles changes a live cache step by step (pods with
// and without terms come and go, nodes change zone) and checks that the
// plugin, which keeps per-domain counts and an index of existing pods'
// terms across cycles, filters and scores exactly as a plugin that scans
// every pod over a fresh snapshot of the same cluster.
func TestScoresKeptAcrossCycles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var nodes []*v1.Node
	for i := range 10 {
		nodes = append(nodes, pt.Node(fmt.Sprintf("n%02d", i), "8", "", map[string]string{v1.LabelTopologyZone: fmt.Sprintf("z%d", i%3)}))
	}
	plugins := []pt.Plugin{{Name: Name, Factory: New, Weight: 1}}
	scanning := []pt.Plugin{{Name: Name, Weight: 1, Factory: func(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
		p, err := New(raw, h)
		if err == nil {
			p.(*InterPodAffinity).counts = nil
		}
		return p, err
	}}}
	live := pt.NewLive(t, plugins, nil, nodes)
	web := []v1.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: term(v1.LabelTopologyZone, "tier", "web")}}
	spreadOut := []v1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term(v1.LabelHostname, "app", "web")}}
	withDB := []v1.PodAffinityTerm{term(v1.LabelTopologyZone, "app", "db")}
	kinds := []func() *v1.Pod{
		func() *v1.Pod {
			return pt.Pod("", "", "", "", pt.Labels("app", "web", "tier", "web"), preferred(web, spreadOut, nil))
		},
		func() *v1.Pod { return pt.Pod("", "", "", "", pt.Labels("app", "db")) },
		func() *v1.Pod {
			return pt.Pod("", "", "", "", pt.Labels("app", "api", "tier", "web"), preferred(nil, nil, withDB))
		},
	}
	pods := map[string]*v1.Pod{}
	incoming := []*v1.Pod{
		pt.Pod("p", "", "", "", pt.Labels("app", "web", "tier", "web"), preferred(web, spreadOut, nil)),
		pt.Pod("q", "", "", "", pt.Labels("app", "db")),
	}
	filtered := []*v1.Pod{
		pt.Pod("anti", "", "", "", pt.Labels("app", "web"), antiAffinity(term(v1.LabelHostname, "app", "web"))),
		pt.Pod("aff", "", "", "", pt.Labels("app", "api"), affinity(term(v1.LabelTopologyZone, "app", "db"))),
		pt.Pod("both", "", "", "", pt.Labels("app", "api"), func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
				term(v1.LabelTopologyZone, "tier", "web"), term(v1.LabelHostname, "app", "api"),
			}}}
		}),
		// Anti-affinity terms sharing a topology key add up per domain.
		pt.Pod("antis", "", "", "", pt.Labels("app", "cache"), func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
				term(v1.LabelHostname, "app", "db"), term(v1.LabelTopologyZone, "app", "api"), term(v1.LabelHostname, "tier", "web"),
			}}}
		}),
	}
	for step := range 120 {
		switch r := rng.IntN(10); {
		case r < 7 || len(pods) == 0:
			p := kinds[rng.IntN(len(kinds))]()
			p.Name, p.Spec.NodeName = fmt.Sprintf("e%d", step), nodes[rng.IntN(len(nodes))].Name
			p.UID = types.UID(p.Name)
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
			n.Labels[v1.LabelTopologyZone] = fmt.Sprintf("z%d", rng.IntN(4))
			nodes[i] = n
			live.Cache.UpdateNode(nil, n)
		}
		live.Sync()
		var list []*v1.Pod
		for _, p := range pods {
			list = append(list, p)
		}
		fresh := pt.New(t, scanning, list, nodes)
		for _, pod := range filtered {
			got, want := live.Filter(t, pod), fresh.Filter(t, pod)
			for name, st := range want {
				if got[name].Code() != st.Code() || got[name].Message() != st.Message() {
					t.Fatalf("step %d pod %s node %s: got %v, want %v", step, pod.Name, name, got[name], st)
				}
			}
		}
		for _, pod := range incoming {
			got, want := live.Score(t, pod), fresh.Score(t, pod)
			for name, w := range want {
				if got[name] != w {
					t.Fatalf("step %d pod %s node %s: got %d, want %d (all: %v vs %v)", step, pod.Name, name, got[name], w, got, want)
				}
			}
		}
	}
}
