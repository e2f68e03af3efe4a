package interpodaffinity

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

const preFilterKey framework.StateKey = "PreFilter" + Name

type topologyPair struct{ key, value string }

type counts map[topologyPair]int64

func (c counts) add(o counts) {
	for k, v := range o {
		c[k] += v
	}
}

func (c counts) clone() counts {
	n := make(counts, len(c))
	for k, v := range c {
		n[k] = v
	}
	return n
}

type preFilterState struct {
	podInfo *framework.PodInfo
	// existingAnti counts existing pods whose required anti-affinity
	// matches the incoming pod, per domain.
	existingAnti counts
	// affinity counts existing pods matching all the pod's required
	// affinity terms; anti counts those matching each anti-affinity term.
	affinity counts
	anti     counts
	nsLabels labels.Set
	// affViews and antiViews, when set (counts kept across cycles), give
	// a node's count per required term by the node's index, without label
	// or map lookups. AddPod/RemovePod change the maps only, so they drop
	// the views; clones have none.
	affViews, antiViews []helper.View
}

func (s *preFilterState) Clone() framework.StateData {
	return &preFilterState{podInfo: s.podInfo, existingAnti: s.existingAnti.clone(), affinity: s.affinity.clone(), anti: s.anti.clone(), nsLabels: s.nsLabels}
}

// nsCache resolves namespace labels once per cycle.
type nsCache struct {
	mu  sync.Mutex
	pl  *InterPodAffinity
	got map[string]labels.Set
}

func (c *nsCache) get(ns string) labels.Set {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.got[ns]; ok {
		return l
	}
	l := c.pl.nsLabels(ns)
	c.got[ns] = l
	return l
}

// existingAntiCounts counts, for a node's pods with required anti-affinity
// matching pod, the domains they forbid.
func existingAntiCounts(pod *v1.Pod, podNS labels.Set, ni *framework.NodeInfo, sign int64, out counts) {
	node := ni.Node()
	var mc framework.TermMatchCache
	for _, existing := range ni.PodsWithRequiredAntiAffinity {
		for i := range existing.RequiredAntiAffinityTerms {
			t := &existing.RequiredAntiAffinityTerms[i]
			if v, ok := node.Labels[t.TopologyKey]; ok && mc.Matches(t, pod, podNS) {
				out[topologyPair{t.TopologyKey, v}] += sign
			}
		}
	}
}

func (s *preFilterState) updateIncoming(existing *v1.Pod, existingNS labels.Set, node *v1.Node, sign int64) {
	pi := s.podInfo
	if len(pi.RequiredAffinityTerms) > 0 && termsMatch(pi.RequiredAffinityTerms, existing, existingNS) {
		for i := range pi.RequiredAffinityTerms {
			t := &pi.RequiredAffinityTerms[i]
			if v, ok := node.Labels[t.TopologyKey]; ok {
				s.affinity[topologyPair{t.TopologyKey, v}] += sign
			}
		}
	}
	for i := range pi.RequiredAntiAffinityTerms {
		t := &pi.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && t.Matches(existing, existingNS) {
			s.anti[topologyPair{t.TopologyKey, v}] += sign
		}
	}
}

// PreFilter counts, per domain, the pods that affect the incoming pod.
func (pl *InterPodAffinity) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	pi := framework.PodInfoFor(state, pod)
	if pi.ParseError != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, pi.ParseError.Error())
	}
	lister := pl.h.SnapshotSharedLister()
	withAnti := lister.HavePodsWithRequiredAntiAffinityList()
	hasOwn := len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0
	if len(withAnti) == 0 && !hasOwn {
		return nil, framework.NewStatus(framework.Skip)
	}
	ns := &nsCache{pl: pl, got: map[string]labels.Set{}}
	s := &preFilterState{podInfo: pi, existingAnti: counts{}, affinity: counts{}, anti: counts{}, nsLabels: ns.get(pod.Namespace)}
	var mu sync.Mutex
	par := pl.h.Parallelizer()
	par.Until(ctx, len(withAnti), func(i int) {
		local := counts{}
		existingAntiCounts(pod, s.nsLabels, withAnti[i], 1, local)
		if len(local) > 0 {
			mu.Lock()
			s.existingAnti.add(local)
			mu.Unlock()
		}
	})
	needNS := needsNamespaceLabels(pi.RequiredAffinityTerms) || needsNamespaceLabels(pi.RequiredAntiAffinityTerms)
	if hasOwn && pl.counts != nil && !needNS {
		pl.cachedOwnCounts(pi, lister.List(), s)
	} else if hasOwn {
		nodes := lister.List()
		par.Until(ctx, len(nodes), func(i int) {
			ni := nodes[i]
			local := &preFilterState{podInfo: pi, affinity: counts{}, anti: counts{}}
			for _, existing := range ni.Pods {
				var l labels.Set
				if needNS {
					l = ns.get(existing.Pod.Namespace)
				}
				local.updateIncoming(existing.Pod, l, ni.Node(), 1)
			}
			if len(local.affinity) > 0 || len(local.anti) > 0 {
				mu.Lock()
				s.affinity.add(local.affinity)
				s.anti.add(local.anti)
				mu.Unlock()
			}
		})
	}
	state.Write(preFilterKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *InterPodAffinity) PreFilterExtensions() framework.PreFilterExtensions { return pl }

func (pl *InterPodAffinity) update(state *framework.CycleState, pod *v1.Pod, other *framework.PodInfo, ni *framework.NodeInfo, sign int64) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return nil
	}
	s := d.(*preFilterState)
	s.affViews, s.antiViews = nil, nil
	node := ni.Node()
	if node == nil {
		return nil
	}
	for i := range other.RequiredAntiAffinityTerms {
		t := &other.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && t.Matches(pod, s.nsLabels) {
			s.existingAnti[topologyPair{t.TopologyKey, v}] += sign
		}
	}
	s.updateIncoming(other.Pod, pl.nsLabels(other.Pod.Namespace), node, sign)
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) AddPod(_ context.Context, state *framework.CycleState, pod *v1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, pi, ni, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (pl *InterPodAffinity) RemovePod(_ context.Context, state *framework.CycleState, pod *v1.Pod, pi *framework.PodInfo, ni *framework.NodeInfo) *framework.Status {
	return pl.update(state, pod, pi, ni, -1)
}

// Filter checks, in Kubernetes' order, the pod's affinity, the pod's
// anti-affinity and the existing pods' anti-affinity.
func (pl *InterPodAffinity) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	s := d.(*preFilterState)
	node := ni.Node()
	if s.affViews != nil || s.antiViews != nil {
		if st := s.filterByViews(ni); !st.IsSuccess() {
			return st
		}
		return s.filterExistingAnti(node)
	}
	if st := satisfyAffinity(s, node); !st.IsSuccess() {
		return st
	}
	for i := range s.podInfo.RequiredAntiAffinityTerms {
		t := &s.podInfo.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	return s.filterExistingAnti(node)
}

func (s *preFilterState) filterExistingAnti(node *v1.Node) *framework.Status {
	if len(s.existingAnti) > 0 {
		for k, v := range node.Labels {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
			}
		}
	}
	return nil
}

// filterByViews is Filter's check of the pod's own terms, by node index.
// The maps add up the counts of anti-affinity terms sharing a topology
// key; since any positive count rejects, checking each term's own count
// gives the same verdict.
func (s *preFilterState) filterByViews(ni *framework.NodeInfo) *framework.Status {
	terms := s.podInfo.RequiredAffinityTerms
	if len(terms) > 0 {
		exist := true
		for i := range terms {
			n, ok := s.affViews[i].NodeTotal(ni)
			if !ok {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
			}
			if n <= 0 {
				exist = false
			}
		}
		if !exist && (len(s.affinity) != 0 || !termsMatch(terms, s.podInfo.Pod, s.nsLabels)) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
		}
	}
	for i := range s.podInfo.RequiredAntiAffinityTerms {
		if n, _ := s.antiViews[i].NodeTotal(ni); n > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	return nil
}

// satisfyAffinity checks the pod's required affinity terms on the node.
func satisfyAffinity(s *preFilterState, node *v1.Node) *framework.Status {
	terms := s.podInfo.RequiredAffinityTerms
	if len(terms) == 0 {
		return nil
	}
	exist := true
	for i := range terms {
		v, ok := node.Labels[terms[i].TopologyKey]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
		}
		if s.affinity[topologyPair{terms[i].TopologyKey, v}] <= 0 {
			exist = false
		}
	}
	// The first pod of a group with affinity to itself may go anywhere
	// that has the topology labels.
	if !exist && (len(s.affinity) != 0 || !termsMatch(terms, s.podInfo.Pod, s.nsLabels)) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	return nil
}

// countMatching counts a node's pods that match, for a per-domain view.
// Its MatchCache keeps the last answer, so consecutive pods sharing one
// interned label map are matched once.
func countMatching(match func(p *v1.Pod) bool) func(*framework.NodeInfo) (int64, bool) {
	var mc framework.MatchCache
	return func(ni *framework.NodeInfo) (int64, bool) {
		var n int64
		for _, p := range ni.Pods {
			if mc.Matches(p.Pod, func() bool { return match(p.Pod) }) {
				n++
			}
		}
		return n, true
	}
}

// cachedOwnCounts fills the pod's affinity and anti-affinity counts from
// per-domain counts kept across cycles (terms without namespace
// selectors: namespace labels change without the nodes changing).
func (pl *InterPodAffinity) cachedOwnCounts(pi *framework.PodInfo, nodes []*framework.NodeInfo, s *preFilterState) {
	if terms := pi.RequiredAffinityTerms; len(terms) > 0 {
		// Pods matching every term count in each term's domain.
		all := ""
		for i := range terms {
			all += terms[i].Key + "&"
		}
		for i := range terms {
			t := &terms[i]
			view := pl.counts.View("all:"+all+"@"+t.TopologyKey, t.TopologyKey, nodes,
				countMatching(func(p *v1.Pod) bool { return termsMatch(terms, p, nil) }))
			s.affViews = append(s.affViews, view)
			for d, n := range view.Totals {
				if n != 0 {
					s.affinity[topologyPair{t.TopologyKey, d}] += n
				}
			}
		}
	}
	for i := range pi.RequiredAntiAffinityTerms {
		t := &pi.RequiredAntiAffinityTerms[i]
		view := pl.counts.View(t.Key, t.TopologyKey, nodes, countMatching(func(p *v1.Pod) bool { return t.Matches(p, nil) }))
		s.antiViews = append(s.antiViews, view)
		for d, n := range view.Totals {
			if n != 0 {
				s.anti[topologyPair{t.TopologyKey, d}] += n
			}
		}
	}
}
