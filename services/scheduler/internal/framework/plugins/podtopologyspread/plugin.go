// Package podtopologyspread spreads pods over topology domains:
// DoNotSchedule constraints filter nodes by maxSkew, ScheduleAnyway
// constraints (and the cluster's default constraints for pods without
// their own) score them.
package podtopologyspread

import (
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/helper"
)

// Name is the plugin's name in configuration.
const Name = "PodTopologySpread"

// Reasons, as in Kubernetes.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// Defaulting types.
const (
	SystemDefaulting = "System"
	ListDefaulting   = "List"
)

// SystemDefaultConstraints are Kubernetes' built-in defaults.
var SystemDefaultConstraints = []v1.TopologySpreadConstraint{
	{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
	{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
}

// Args are PodTopologySpreadArgs.
type Args struct {
	DefaultConstraints []v1.TopologySpreadConstraint `json:"defaultConstraints,omitempty"`
	DefaultingType     string                        `json:"defaultingType,omitempty"`
}

// PodTopologySpread is the plugin.
type PodTopologySpread struct {
	h                  framework.Handle
	defaultConstraints []v1.TopologySpreadConstraint
	services           corelisters.ServiceLister
	rcs                corelisters.ReplicationControllerLister
	replicaSets        appslisters.ReplicaSetLister
	statefulSets       appslisters.StatefulSetLister
	// counts keeps DoNotSchedule per-domain counts across cycles (nil:
	// every cycle scans every pod).
	counts *helper.DomainCounts
}

var (
	_ framework.PreFilterPlugin   = &PodTopologySpread{}
	_ framework.FilterPlugin      = &PodTopologySpread{}
	_ framework.PreScorePlugin    = &PodTopologySpread{}
	_ framework.ScorePlugin       = &PodTopologySpread{}
	_ framework.EnqueueExtensions = &PodTopologySpread{}
)

// New builds the plugin.
func New(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
	args := Args{DefaultingType: SystemDefaulting}
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	pl := &PodTopologySpread{h: h, counts: helper.NewDomainCounts(32)}
	switch args.DefaultingType {
	case SystemDefaulting, "":
		if len(args.DefaultConstraints) > 0 {
			return nil, fmt.Errorf("podtopologyspread: defaultConstraints need defaultingType %s", ListDefaulting)
		}
		pl.defaultConstraints = SystemDefaultConstraints
	case ListDefaulting:
		for _, c := range args.DefaultConstraints {
			if c.LabelSelector != nil {
				return nil, fmt.Errorf("podtopologyspread: default constraints must not have a labelSelector")
			}
			if c.MaxSkew <= 0 {
				return nil, fmt.Errorf("podtopologyspread: maxSkew must be positive")
			}
		}
		pl.defaultConstraints = args.DefaultConstraints
	default:
		return nil, fmt.Errorf("podtopologyspread: defaultingType %q is not %s or %s", args.DefaultingType, SystemDefaulting, ListDefaulting)
	}
	if f := h.SharedInformerFactory(); f != nil && len(pl.defaultConstraints) > 0 {
		pl.services = f.Core().V1().Services().Lister()
		pl.rcs = f.Core().V1().ReplicationControllers().Lister()
		pl.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		pl.statefulSets = f.Apps().V1().StatefulSets().Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *PodTopologySpread) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (pl *PodTopologySpread) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.EventAssignedPod, ActionType: framework.All},
		{Resource: framework.EventNode, ActionType: framework.Add | framework.Delete | framework.UpdateNodeLabel | framework.UpdateNodeTaint},
	}
}

// constraint is a parsed TopologySpreadConstraint.
type constraint struct {
	MaxSkew            int32
	TopologyKey        string
	Selector           labels.Selector
	MinDomains         int32
	NodeAffinityPolicy v1.NodeInclusionPolicy
	NodeTaintsPolicy   v1.NodeInclusionPolicy
}

// constraints returns the pod's constraints of one kind, or the defaults
// (with a selector derived from the pod's owners) when it has none.
func (pl *PodTopologySpread) constraints(pod *v1.Pod, action v1.UnsatisfiableConstraintAction) ([]constraint, error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		return parse(pod, pod.Spec.TopologySpreadConstraints, action, nil)
	}
	if len(pl.defaultConstraints) == 0 {
		return nil, nil
	}
	sel := helper.DefaultSelector(pod, pl.services, pl.rcs, pl.replicaSets, pl.statefulSets)
	if sel.Empty() {
		return nil, nil
	}
	return parse(pod, pl.defaultConstraints, action, sel)
}

func parse(pod *v1.Pod, in []v1.TopologySpreadConstraint, action v1.UnsatisfiableConstraintAction, defaultSel labels.Selector) ([]constraint, error) {
	var out []constraint
	for _, c := range in {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel := defaultSel
		if sel == nil {
			s, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil {
				return nil, err
			}
			if c.LabelSelector == nil {
				s = labels.Nothing()
			}
			sel = s
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					if r, err := labels.NewRequirement(k, "in", []string{v}); err == nil {
						sel = sel.Add(*r)
					}
				}
			}
		}
		pc := constraint{MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, Selector: sel, MinDomains: 1,
			NodeAffinityPolicy: v1.NodeInclusionPolicyHonor, NodeTaintsPolicy: v1.NodeInclusionPolicyIgnore}
		if c.MinDomains != nil {
			pc.MinDomains = *c.MinDomains
		}
		if c.NodeAffinityPolicy != nil {
			pc.NodeAffinityPolicy = *c.NodeAffinityPolicy
		}
		if c.NodeTaintsPolicy != nil {
			pc.NodeTaintsPolicy = *c.NodeTaintsPolicy
		}
		out = append(out, pc)
	}
	return out, nil
}

func nodeHasKeys(node *v1.Node, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts pods of ns matched by sel, skipping terminating pods.
func countMatching(pods []*framework.PodInfo, sel labels.Selector, ns string, mc *framework.MatchCache) int {
	n := 0
	for _, pi := range pods {
		p := pi.Pod
		if p.DeletionTimestamp != nil || p.Namespace != ns {
			continue
		}
		if mc.Matches(p, func() bool { return sel.Matches(labels.Set(p.Labels)) }) {
			n++
		}
	}
	return n
}
