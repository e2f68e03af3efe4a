package podtopologyspread

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"drover.dev/scheduler/internal/framework"
)

const preScoreKey framework.StateKey = "PreScore" + Name

type preScoreState struct {
	constraints []constraint
	// counts per constraint and domain (hostname domains are counted on
	// the node itself at Score time).
	counts  []map[string]int
	weights []float64
	ignored map[string]struct{}
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore counts matching pods per domain for ScheduleAnyway constraints.
func (pl *PodTopologySpread) PreScore(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered []*framework.NodeInfo) *framework.Status {
	cs, err := pl.constraints(pod, v1.ScheduleAnyway)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s := &preScoreState{constraints: cs, counts: make([]map[string]int, len(cs)), weights: make([]float64, len(cs)), ignored: map[string]struct{}{}}
	domains := make([]map[string]struct{}, len(cs))
	for i := range cs {
		s.counts[i] = map[string]int{}
		domains[i] = map[string]struct{}{}
	}
	for _, ni := range filtered {
		node := ni.Node()
		if !nodeHasKeys(node, cs) {
			s.ignored[node.Name] = struct{}{}
			continue
		}
		for i := range cs {
			if cs[i].TopologyKey == v1.LabelHostname {
				domains[i][node.Name] = struct{}{}
				continue
			}
			v := node.Labels[cs[i].TopologyKey]
			domains[i][v] = struct{}{}
			s.counts[i][v] = 0
		}
	}
	for i := range cs {
		s.weights[i] = math.Log(float64(len(domains[i]) + 2))
	}
	nodes := pl.h.SnapshotSharedLister().List()
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	cnt := make([]int32, len(nodes)*len(cs))
	pl.h.Parallelizer().Until(ctx, len(nodes), func(n int) {
		ni := nodes[n]
		node := ni.Node()
		row := cnt[n*len(cs) : (n+1)*len(cs)]
		hasKeys := nodeHasKeys(node, cs)
		for i := range cs {
			c := &cs[i]
			row[i] = -1
			if !hasKeys || c.TopologyKey == v1.LabelHostname {
				continue
			}
			if _, tracked := s.counts[i][node.Labels[c.TopologyKey]]; !tracked || !eligible(pod, c, node, affinity) {
				continue
			}
			row[i] = int32(countMatching(ni.Pods, c.Selector, pod.Namespace, &framework.MatchCache{}))
		}
	})
	for n, ni := range nodes {
		for i := range cs {
			if c := cnt[n*len(cs)+i]; c >= 0 {
				s.counts[i][ni.Node().Labels[cs[i].TopologyKey]] += int(c)
			}
		}
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score is the weighted number of matching pods in the node's domains
// (lower is better; NormalizeScore flips it).
func (pl *PodTopologySpread) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	node := ni.Node()
	if _, ok := s.ignored[node.Name]; ok {
		return 0, nil
	}
	var score float64
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := node.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		var cnt int
		if c.TopologyKey == v1.LabelHostname {
			cnt = countMatching(ni.Pods, c.Selector, pod.Namespace, &framework.MatchCache{})
		} else {
			cnt = s.counts[i][v]
		}
		score += float64(cnt)*s.weights[i] + float64(c.MaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (pl *PodTopologySpread) ScoreExtensions() framework.ScoreExtensions { return pl }

// NormalizeScore maps the lowest count to MaxNodeScore, as Kubernetes does.
func (pl *PodTopologySpread) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores framework.NodeScoreList) *framework.Status {
	d, err := state.Read(preScoreKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preScoreState)
	var minScore int64 = math.MaxInt64
	var maxScore int64
	for _, sc := range scores {
		if _, ok := s.ignored[sc.Name]; ok {
			continue
		}
		if sc.Score < minScore {
			minScore = sc.Score
		}
		if sc.Score > maxScore {
			maxScore = sc.Score
		}
	}
	for i := range scores {
		if _, ok := s.ignored[scores[i].Name]; ok {
			scores[i].Score = 0
			continue
		}
		if maxScore == 0 {
			scores[i].Score = framework.MaxNodeScore
			continue
		}
		scores[i].Score = framework.MaxNodeScore * (maxScore + minScore - scores[i].Score) / maxScore
	}
	return nil
}
