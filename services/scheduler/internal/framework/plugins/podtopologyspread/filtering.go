package podtopologyspread

import (
	"context"
	"math"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

// preFilterState holds, per DoNotSchedule constraint, the number of
// matching pods in each domain and the smallest such number.
type preFilterState struct {
	constraints []constraint
	counts      []map[string]int
	min         []int
	// self is 1 where the incoming pod matches the constraint's selector.
	self []int
	// views, when set, give each node's domain count without a label or
	// map lookup (counts kept across cycles). AddPod/RemovePod change
	// counts only, so they drop the views; clones have none.
	views []helper.View
}

func (s *preFilterState) Clone() framework.StateData {
	c := &preFilterState{constraints: s.constraints, min: append([]int(nil), s.min...), self: s.self}
	c.counts = make([]map[string]int, len(s.counts))
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *preFilterState) recomputeMin(i int, minDomains int32) {
	m := math.MaxInt
	for _, v := range s.counts[i] {
		if v < m {
			m = v
		}
	}
	if m == math.MaxInt || int32(len(s.counts[i])) < minDomains {
		m = 0
	}
	s.min[i] = m
}

func tolerates(pod *v1.Pod, node *v1.Node) bool {
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
			continue
		}
		ok := false
		for j := range pod.Spec.Tolerations {
			if pod.Spec.Tolerations[j].ToleratesTaint(logr.Discard(), t, true) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// eligible reports whether a node counts for constraint c of pod.
func eligible(pod *v1.Pod, c *constraint, node *v1.Node, affinity nodeaffinity.RequiredNodeAffinity) bool {
	if c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor {
		if ok, _ := affinity.Match(node); !ok {
			return false
		}
	}
	if c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor && !tolerates(pod, node) {
		return false
	}
	return true
}

// PreFilter counts matching pods per domain over every eligible node.
func (pl *PodTopologySpread) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	cs, err := pl.constraints(pod, v1.DoNotSchedule)
	if err != nil {
		return nil, framework.AsStatus(err)
	}
	if len(cs) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	s := &preFilterState{constraints: cs, counts: make([]map[string]int, len(cs)), min: make([]int, len(cs)), self: make([]int, len(cs))}
	for i := range cs {
		s.counts[i] = map[string]int{}
		if cs[i].Selector.Matches(labels.Set(pod.Labels)) {
			s.self[i] = 1
		}
	}
	nodes := pl.h.SnapshotSharedLister().List()
	if pl.counts != nil && pl.countsCacheable(pod, cs) {
		pl.cachedCounts(pod, cs, nodes, s)
		state.Write(preFilterKey, s)
		return nil, nil
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	// Per-node counts land in their own slots (-1: node not counted) and
	// are summed per domain afterwards, without locks.
	cnt := make([]int32, len(nodes)*len(cs))
	framework.Chunks(ctx, pl.h.Parallelizer(), len(nodes), 64, func(from, to int) {
		memos := make([]framework.MatchCache, len(cs))
		for n := from; n < to; n++ {
			ni := nodes[n]
			node := ni.Node()
			row := cnt[n*len(cs) : (n+1)*len(cs)]
			hasKeys := nodeHasKeys(node, cs)
			for i := range cs {
				if !hasKeys || !eligible(pod, &cs[i], node, affinity) {
					row[i] = -1
					continue
				}
				row[i] = int32(countMatching(ni.Pods, cs[i].Selector, pod.Namespace, &memos[i]))
			}
		}
	})
	for n, ni := range nodes {
		for i := range cs {
			if c := cnt[n*len(cs)+i]; c >= 0 {
				s.counts[i][ni.Node().Labels[cs[i].TopologyKey]] += int(c)
			}
		}
	}
	for i := range cs {
		s.recomputeMin(i, cs[i].MinDomains)
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *PodTopologySpread) PreFilterExtensions() framework.PreFilterExtensions { return pl }

func (pl *PodTopologySpread) update(state *framework.CycleState, pod *v1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo, delta int) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return nil
	}
	s := d.(*preFilterState)
	s.views = nil
	node := ni.Node()
	if node == nil || !nodeHasKeys(node, s.constraints) || pi.Pod.Namespace != pod.Namespace {
		return nil
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	for i := range s.constraints {
		c := &s.constraints[i]
		if !eligible(pod, c, node, affinity) || !c.Selector.Matches(labels.Set(pi.Pod.Labels)) {
			continue
		}
		s.counts[i][node.Labels[c.TopologyKey]] += delta
		s.recomputeMin(i, c.MinDomains)
	}
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, pi, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *PodTopologySpread) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, pi, ni, -1)
}

// Filter rejects a node where placing the pod would exceed a maxSkew.
func (pl *PodTopologySpread) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	if s.views != nil {
		for i := range s.constraints {
			n, ok := s.views[i].NodeTotal(ni)
			if !ok {
				return statusLabelNotMatch
			}
			if int(n)+s.self[i]-s.min[i] > int(s.constraints[i].MaxSkew) {
				return statusConstraintsNotMatch
			}
		}
		return nil
	}
	node := ni.Node()
	for i := range s.constraints {
		c := &s.constraints[i]
		val, ok := node.Labels[c.TopologyKey]
		if !ok {
			return statusLabelNotMatch
		}
		skew := s.counts[i][val] + s.self[i] - s.min[i]
		if skew > int(c.MaxSkew) {
			return statusConstraintsNotMatch
		}
	}
	return nil
}

// Filter's rejections are shared (statuses are not changed once made):
// most nodes are rejected in a tightly spread cluster.
var (
	statusLabelNotMatch       = framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch).WithPlugin(Name)
	statusConstraintsNotMatch = framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch).WithPlugin(Name)
)

// countsCacheable reports whether every node counts for every constraint
// whatever the pod (no node affinity or taints to honour), so that the
// per-domain counts can be kept across cycles.
func (pl *PodTopologySpread) countsCacheable(pod *v1.Pod, cs []constraint) bool {
	hasAffinity := len(pod.Spec.NodeSelector) > 0 ||
		(pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil && pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil)
	for i := range cs {
		if cs[i].NodeTaintsPolicy == v1.NodeInclusionPolicyHonor {
			return false
		}
		if hasAffinity && cs[i].NodeAffinityPolicy == v1.NodeInclusionPolicyHonor {
			return false
		}
	}
	return true
}

// cachedCounts fills s from counters kept across cycles: only nodes whose
// pods changed since the last cycle are counted again.
func (pl *PodTopologySpread) cachedCounts(pod *v1.Pod, cs []constraint, nodes []*framework.NodeInfo, s *preFilterState) {
	allKeys := ""
	for i := range cs {
		allKeys += cs[i].TopologyKey + ","
	}
	for i := range cs {
		c := &cs[i]
		key := pod.Namespace + "|" + framework.SelectorKey(c.Selector) + "|" + c.TopologyKey + "|" + allKeys
		var mc framework.MatchCache
		view := pl.counts.View(key, c.TopologyKey, nodes, func(ni *framework.NodeInfo) (int64, bool) {
			if !nodeHasKeys(ni.Node(), cs) {
				return 0, false
			}
			return int64(countMatching(ni.Pods, c.Selector, pod.Namespace, &mc)), true
		})
		s.views = append(s.views, view)
		m := make(map[string]int, len(view.Totals))
		for d, n := range view.Totals {
			m[d] = int(n)
		}
		s.counts[i] = m
		s.recomputeMin(i, c.MinDomains)
	}
}
