// Package interpodaffinity implements pod affinity and anti-affinity:
// required terms (of the pod, and existing pods' anti-affinity against it)
// filter nodes by topology domain, preferred terms score them.
package interpodaffinity

import (
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

// Name is the plugin's name in configuration.
const Name = "InterPodAffinity"

// Reasons, as in Kubernetes.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

// Args are InterPodAffinityArgs.
type Args struct {
	// HardPodAffinityWeight scores existing pods' required affinity to the
	// incoming pod as a preferred term of this weight.
	HardPodAffinityWeight *int32 `json:"hardPodAffinityWeight,omitempty"`
}

// InterPodAffinity is the plugin.
type InterPodAffinity struct {
	h                     framework.Handle
	hardPodAffinityWeight int32
	namespaces            corelisters.NamespaceLister
	// counts and existing keep per-domain counts across cycles (nil:
	// every cycle scans every pod).
	counts   *helper.DomainCounts
	existing *existingTerms
}

var (
	_ framework.PreFilterPlugin   = &InterPodAffinity{}
	_ framework.FilterPlugin      = &InterPodAffinity{}
	_ framework.PreScorePlugin    = &InterPodAffinity{}
	_ framework.ScorePlugin       = &InterPodAffinity{}
	_ framework.EnqueueExtensions = &InterPodAffinity{}
)

// New builds the plugin.
func New(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
	var args Args
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	pl := &InterPodAffinity{h: h, hardPodAffinityWeight: 1}
	if args.HardPodAffinityWeight != nil {
		if w := *args.HardPodAffinityWeight; w < 0 || w > 100 {
			return nil, fmt.Errorf("interpodaffinity: hardPodAffinityWeight %d is not in [0, 100]", w)
		}
		pl.hardPodAffinityWeight = *args.HardPodAffinityWeight
	}
	pl.counts = helper.NewDomainCounts(32)
	pl.existing = newExistingTerms(pl.hardPodAffinityWeight)
	if f := h.SharedInformerFactory(); f != nil {
		pl.namespaces = f.Core().V1().Namespaces().Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *InterPodAffinity) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (pl *InterPodAffinity) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.EventAssignedPod, ActionType: framework.All},
		{Resource: framework.EventNode, ActionType: framework.Add | framework.UpdateNodeLabel},
	}
}

// nsLabels returns a namespace's labels (nil when unknown).
func (pl *InterPodAffinity) nsLabels(ns string) labels.Set {
	if pl.namespaces == nil {
		return nil
	}
	n, err := pl.namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

// termsMatch reports whether pod (with nsLabels) matches every term.
func termsMatch(terms []framework.AffinityTerm, pod *v1.Pod, nsLabels labels.Set) bool {
	if len(terms) == 0 {
		return false
	}
	for i := range terms {
		if !terms[i].Matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

func needsNamespaceLabels(terms []framework.AffinityTerm) bool {
	for i := range terms {
		if terms[i].NamespaceSelector != nil {
			return true
		}
	}
	return false
}

func needsNamespaceLabelsWeighted(terms []framework.WeightedAffinityTerm) bool {
	for i := range terms {
		if terms[i].NamespaceSelector != nil {
			return true
		}
	}
	return false
}
