package interpodaffinity

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

const preScoreKey framework.StateKey = "PreScore" + Name

type scoreMap map[string]map[string]int64

func (m scoreMap) add(key, value string, w int64) {
	if w == 0 {
		return
	}
	inner, ok := m[key]
	if !ok {
		inner = map[string]int64{}
		m[key] = inner
	}
	inner[value] += w
}

type keyWeight struct {
	key string
	w   int64
}

// countMatches counts pods matched by t.
func countMatches(t *framework.AffinityTerm, pods []*framework.PodInfo, ns *nsCache, needNS bool, mc *framework.MatchCache) int64 {
	var n int64
	for _, p := range pods {
		var l labels.Set
		if needNS {
			l = ns.get(p.Pod.Namespace)
		}
		if mc.Matches(p.Pod, func() bool { return t.Matches(p.Pod, l) }) {
			n++
		}
	}
	return n
}

// layer is one per-domain weight map of a topology key, scaled by w.
type layer struct {
	key string
	w   int64
	m   map[string]int64
	// view, when set, reads a node's weight without label or map
	// lookups (m is then view.Totals).
	view *helper.View
}

// preScoreState sums layers: counts kept across cycles are used in place
// (they do not change before the next cycle) instead of being copied.
type preScoreState struct{ layers []layer }

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore sums, per domain, the weights of preferred terms between the
// pod and the pods already in that domain.
func (pl *InterPodAffinity) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	if len(filtered) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	pi := framework.PodInfoFor(state, pod)
	hasPreferred := len(pi.PreferredAffinityTerms) > 0 || len(pi.PreferredAntiAffinityTerms) > 0
	lister := pl.h.SnapshotSharedLister()
	nodes := lister.HavePodsWithAffinityList()
	if hasPreferred {
		nodes = lister.List()
	}
	if len(nodes) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	ns := &nsCache{pl: pl, got: map[string]labels.Set{}}
	podNS := ns.get(pod.Namespace)
	needNS := needsNamespaceLabelsWeighted(pi.PreferredAffinityTerms) || needsNamespaceLabelsWeighted(pi.PreferredAntiAffinityTerms)
	if pl.counts != nil && !needNS {
		// Counts kept across cycles: only changed nodes are looked at.
		layers := pl.cachedPreScore(pod, pi, podNS, lister.List())
		if len(layers) == 0 {
			return framework.NewStatus(framework.Skip)
		}
		state.Write(preScoreKey, &preScoreState{layers: layers})
		return nil
	}
	// Each node's weights land in its own slot; they are summed per domain
	// afterwards, without locks or per-node maps.
	perNode := make([][]keyWeight, len(nodes))
	framework.Chunks(ctx, pl.h.Parallelizer(), len(nodes), 64, func(from, to int) {
		// Memos live for the whole range: replicas spread over nodes.
		var req, pref, anti framework.TermMatchCache
		memos := make([]framework.MatchCache, len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms))
		for i := from; i < to; i++ {
			ni := nodes[i]
			node := ni.Node()
			// Weights accumulate per topology key of this node, in a short
			// slice: a node has few distinct keys and maps cost more.
			var acc []keyWeight
			add := func(key string, w int64) {
				for k := range acc {
					if acc[k].key == key {
						acc[k].w += w
						return
					}
				}
				acc = append(acc, keyWeight{key, w})
			}
			pods := ni.PodsWithAffinity
			if hasPreferred {
				pods = ni.Pods
				// The pod's own preferred terms: count matching pods per term.
				for j := range pi.PreferredAffinityTerms {
					t := &pi.PreferredAffinityTerms[j]
					if _, ok := node.Labels[t.TopologyKey]; ok {
						add(t.TopologyKey, int64(t.Weight)*countMatches(&t.AffinityTerm, ni.Pods, ns, needNS, &memos[j]))
					}
				}
				for j := range pi.PreferredAntiAffinityTerms {
					t := &pi.PreferredAntiAffinityTerms[j]
					if _, ok := node.Labels[t.TopologyKey]; ok {
						add(t.TopologyKey, -int64(t.Weight)*countMatches(&t.AffinityTerm, ni.Pods, ns, needNS, &memos[len(pi.PreferredAffinityTerms)+j]))
					}
				}
			}
			// Existing pods' terms that select the incoming pod (memoised by
			// term: replicas carry equal terms).
			for _, existing := range pods {
				if pl.hardPodAffinityWeight > 0 {
					for j := range existing.RequiredAffinityTerms {
						t := &existing.RequiredAffinityTerms[j]
						if req.Matches(t, pod, podNS) {
							add(t.TopologyKey, int64(pl.hardPodAffinityWeight))
						}
					}
				}
				for j := range existing.PreferredAffinityTerms {
					t := &existing.PreferredAffinityTerms[j]
					if pref.Matches(&t.AffinityTerm, pod, podNS) {
						add(t.TopologyKey, int64(t.Weight))
					}
				}
				for j := range existing.PreferredAntiAffinityTerms {
					t := &existing.PreferredAntiAffinityTerms[j]
					if anti.Matches(&t.AffinityTerm, pod, podNS) {
						add(t.TopologyKey, -int64(t.Weight))
					}
				}
			}
			perNode[i] = acc
		}
	})
	total := scoreMap{}
	for i, acc := range perNode {
		for _, kw := range acc {
			if v, ok := nodes[i].Node().Labels[kw.key]; ok && kw.w != 0 {
				total.add(kw.key, v, kw.w)
			}
		}
	}
	if len(total) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	st := &preScoreState{}
	for key, m := range total {
		st.layers = append(st.layers, layer{key: key, w: 1, m: m})
	}
	state.Write(preScoreKey, st)
	return nil
}

// Score sums the domain scores of the node's labels.
func (pl *InterPodAffinity) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	var score int64
	labels := ni.Node().Labels
	for i := range s.layers {
		l := &s.layers[i]
		if l.view != nil {
			n, _ := l.view.NodeTotal(ni)
			score += l.w * n
		} else if v, ok := labels[l.key]; ok {
			score += l.w * l.m[v]
		}
	}
	return score, nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *InterPodAffinity) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps [min, max] to [0, MaxNodeScore].
func (pl *InterPodAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	var minS, maxS int64 = math.MaxInt64, math.MinInt64
	for _, s := range scores {
		minS = min(minS, s.Score)
		maxS = max(maxS, s.Score)
	}
	diff := maxS - minS
	for i := range scores {
		if diff > 0 {
			scores[i].Score = framework.MaxNodeScore * (scores[i].Score - minS) / diff
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}

// cachedPreScore is PreScore from per-domain counts kept across cycles:
// the pod's own preferred terms count matching pods per domain (terms
// with a namespace selector are not cached: namespace labels change
// without the nodes changing), and the existing pods' terms come from
// the index.
func (pl *InterPodAffinity) cachedPreScore(pod *v1.Pod, pi *framework.PodInfo, podNS labels.Set, nodes []*framework.NodeInfo) []layer {
	var layers []layer
	own := func(t *framework.AffinityTerm, w int64) {
		view := pl.counts.View(t.Key, t.TopologyKey, nodes, countMatching(func(p *v1.Pod) bool { return t.Matches(p, nil) }))
		if len(view.Totals) > 0 {
			layers = append(layers, layer{key: t.TopologyKey, w: w, m: view.Totals, view: &view})
		}
	}
	for j := range pi.PreferredAffinityTerms {
		own(&pi.PreferredAffinityTerms[j].AffinityTerm, int64(pi.PreferredAffinityTerms[j].Weight))
	}
	for j := range pi.PreferredAntiAffinityTerms {
		own(&pi.PreferredAntiAffinityTerms[j].AffinityTerm, -int64(pi.PreferredAntiAffinityTerms[j].Weight))
	}
	return pl.existing.layers(layers, nodes, pod, podNS)
}
