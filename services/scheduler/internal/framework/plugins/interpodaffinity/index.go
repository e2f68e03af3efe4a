package interpodaffinity

import (
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

// existingTerms indexes, across cycles, the affinity terms of the pods
// already placed (required affinity at the hard weight, preferred affinity
// and anti-affinity at their signed weights) as per-domain weight sums by
// term, so that PreScore matches each distinct term once against the
// incoming pod instead of every term of every pod. Only nodes whose
// NodeInfo changed since the last cycle are indexed again.
type existingTerms struct {
	mu    sync.Mutex
	hard  int64
	nodes []indexedNode
	terms map[string]*indexedTerm
	// counts holds, for the terms that select incoming pods, the same
	// weights per node, so that Score reads a node's weight by its index.
	counts *helper.DomainCounts
}

type indexedTerm struct {
	term    framework.AffinityTerm
	weights map[string]int64
	refs    int
}

type contribution struct {
	t      *indexedTerm
	domain string
	w      int64
}

type indexedNode struct {
	ni       *framework.NodeInfo
	gen      int64
	npods    int
	contribs []contribution
}

// maxTermViews is how many existing terms get per-node counters.
const maxTermViews = 32

func newExistingTerms(hard int32) *existingTerms {
	return &existingTerms{hard: int64(hard), terms: map[string]*indexedTerm{}, counts: helper.NewDomainCounts(2 * maxTermViews)}
}

// layers updates the index from nodes and appends the weights of the
// terms that select pod.
func (x *existingTerms) layers(out []layer, nodes []*framework.NodeInfo, pod *v1.Pod, podNS labels.Set) []layer {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.update(nodes)
	views := 0
	for _, it := range x.terms {
		if len(it.weights) > 0 && it.term.Matches(pod, podNS) {
			if views >= maxTermViews {
				// More matching terms than counters: the rest are read
				// by label (a counter per term would be evicted and
				// rebuilt every cycle).
				out = append(out, layer{key: it.term.TopologyKey, w: 1, m: it.weights})
				continue
			}
			views++
			key := it.term.Key
			view := x.counts.View(key, it.term.TopologyKey, nodes, func(ni *framework.NodeInfo) (int64, bool) {
				return x.nodeWeight(ni, key), true
			})
			out = append(out, layer{key: it.term.TopologyKey, w: 1, m: view.Totals, view: &view})
		}
	}
	return out
}

// nodeWeight sums the weights of the terms keyed key of a node's pods.
func (x *existingTerms) nodeWeight(ni *framework.NodeInfo, key string) int64 {
	var w int64
	for _, p := range ni.PodsWithAffinity {
		for j := range p.RequiredAffinityTerms {
			if p.RequiredAffinityTerms[j].Key == key {
				w += x.hard
			}
		}
		for j := range p.PreferredAffinityTerms {
			if p.PreferredAffinityTerms[j].Key == key {
				w += int64(p.PreferredAffinityTerms[j].Weight)
			}
		}
		for j := range p.PreferredAntiAffinityTerms {
			if p.PreferredAntiAffinityTerms[j].Key == key {
				w -= int64(p.PreferredAntiAffinityTerms[j].Weight)
			}
		}
	}
	return w
}

func (x *existingTerms) update(nodes []*framework.NodeInfo) {
	if len(x.nodes) != len(nodes) {
		x.nodes = make([]indexedNode, len(nodes))
		x.terms = map[string]*indexedTerm{}
	}
	for i, ni := range nodes {
		e := &x.nodes[i]
		if e.ni == ni && e.gen == ni.Generation && e.npods == len(ni.Pods) {
			continue
		}
		for _, c := range e.contribs {
			x.apply(c, -1)
		}
		e.ni, e.gen, e.npods = ni, ni.Generation, len(ni.Pods)
		e.contribs = e.contribs[:0]
		node := ni.Node()
		add := func(t *framework.AffinityTerm, w int64) {
			d, ok := node.Labels[t.TopologyKey]
			if !ok || w == 0 {
				return
			}
			it, ok := x.terms[t.Key]
			if !ok {
				it = &indexedTerm{term: *t, weights: map[string]int64{}}
				x.terms[t.Key] = it
			}
			c := contribution{t: it, domain: d, w: w}
			x.apply(c, 1)
			e.contribs = append(e.contribs, c)
		}
		for _, p := range ni.PodsWithAffinity {
			for j := range p.RequiredAffinityTerms {
				add(&p.RequiredAffinityTerms[j], x.hard)
			}
			for j := range p.PreferredAffinityTerms {
				add(&p.PreferredAffinityTerms[j].AffinityTerm, int64(p.PreferredAffinityTerms[j].Weight))
			}
			for j := range p.PreferredAntiAffinityTerms {
				add(&p.PreferredAntiAffinityTerms[j].AffinityTerm, -int64(p.PreferredAntiAffinityTerms[j].Weight))
			}
		}
		if len(e.contribs) == 0 {
			e.contribs = nil
		}
	}
}

func (x *existingTerms) apply(c contribution, sign int64) {
	it := c.t
	if w := it.weights[c.domain] + sign*c.w; w == 0 {
		delete(it.weights, c.domain)
	} else {
		it.weights[c.domain] = w
	}
	it.refs += int(sign)
	if it.refs <= 0 {
		delete(x.terms, it.term.Key)
	}
}
