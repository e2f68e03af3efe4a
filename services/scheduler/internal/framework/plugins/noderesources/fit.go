// Package noderesources implements NodeResourcesFit: a pod's requests
// (containers, init containers and overhead) must fit in the node's
// allocatable minus what bound and assumed pods request; nodes are scored
// LeastAllocated (spread) or MostAllocated (bin-pack).
package noderesources

import (
	"context"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeResourcesFit"

// Scoring strategies.
const (
	LeastAllocated = "LeastAllocated"
	MostAllocated  = "MostAllocated"
)

// ResourceSpec weights one resource in scoring.
type ResourceSpec struct {
	Name   string `json:"name"`
	Weight int64  `json:"weight,omitempty"`
}

// ScoringStrategy picks the score function.
type ScoringStrategy struct {
	Type      string         `json:"type,omitempty"`
	Resources []ResourceSpec `json:"resources,omitempty"`
}

// Args are NodeResourcesFitArgs.
type Args struct {
	IgnoredResources []string         `json:"ignoredResources,omitempty"`
	ScoringStrategy  *ScoringStrategy `json:"scoringStrategy,omitempty"`
}

// Fit is the plugin.
type Fit struct {
	ignored   map[string]bool
	strategy  string
	resources []ResourceSpec
}

var (
	_ framework.PreFilterPlugin   = &Fit{}
	_ framework.FilterPlugin      = &Fit{}
	_ framework.ScorePlugin       = &Fit{}
	_ framework.EnqueueExtensions = &Fit{}
)

// DefaultResources are scored with weight 1 each.
var DefaultResources = []ResourceSpec{{Name: string(v1.ResourceCPU), Weight: 1}, {Name: string(v1.ResourceMemory), Weight: 1}}

// New builds the plugin.
func New(raw json.RawMessage, _ framework.Handle) (framework.Plugin, error) {
	args := Args{ScoringStrategy: &ScoringStrategy{Type: LeastAllocated}}
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	if args.ScoringStrategy == nil {
		args.ScoringStrategy = &ScoringStrategy{Type: LeastAllocated}
	}
	switch args.ScoringStrategy.Type {
	case "":
		args.ScoringStrategy.Type = LeastAllocated
	case LeastAllocated, MostAllocated:
	default:
		return nil, fmt.Errorf("noderesources: scoring strategy %q is not %s or %s", args.ScoringStrategy.Type, LeastAllocated, MostAllocated)
	}
	res := args.ScoringStrategy.Resources
	if len(res) == 0 {
		res = DefaultResources
	}
	for i := range res {
		if res[i].Weight == 0 {
			res[i].Weight = 1
		}
		if res[i].Weight < 0 || res[i].Weight > 100 {
			return nil, fmt.Errorf("noderesources: weight of %q must be in [1, 100]", res[i].Name)
		}
	}
	f := &Fit{ignored: map[string]bool{}, strategy: args.ScoringStrategy.Type, resources: res}
	for _, r := range args.IgnoredResources {
		f.ignored[r] = true
	}
	return f, nil
}

// Name implements framework.Plugin.
func (f *Fit) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (f *Fit) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.EventAssignedPod, ActionType: framework.Delete | framework.UpdatePodScaleDown},
		{Resource: framework.EventNode, ActionType: framework.Add | framework.UpdateNodeAllocatable},
	}
}

const preFilterKey framework.StateKey = "PreFilter" + Name

// PodRequests are a pod's requests, computed once per cycle.
type PodRequests struct {
	Req                    framework.Resource
	NonZeroCPU, NonZeroMem int64
}

// Clone implements framework.StateData.
func (s *PodRequests) Clone() framework.StateData { return s }

// PreFilter computes the pod's requests once.
func (f *Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	pi := framework.PodInfoFor(state, pod)
	state.Write(preFilterKey, &PodRequests{Req: pi.Requests, NonZeroCPU: pi.NonZeroCPU, NonZeroMem: pi.NonZeroMem})
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (f *Fit) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func podState(state *framework.CycleState, pod *v1.Pod) *PodRequests {
	if d, err := state.Read(preFilterKey); err == nil {
		return d.(*PodRequests)
	}
	pi := framework.NewPodInfo(pod)
	return &PodRequests{Req: pi.Requests, NonZeroCPU: pi.NonZeroCPU, NonZeroMem: pi.NonZeroMem}
}

// InsufficientResource is one resource that does not fit.
type InsufficientResource struct {
	Name      v1.ResourceName
	Reason    string
	Requested int64
	Used      int64
	Capacity  int64
}

// Filter implements framework.FilterPlugin.
func (f *Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s := podState(state, pod)
	insufficient := Fits(&s.Req, ni, f.ignored)
	if len(insufficient) == 0 {
		return nil
	}
	reasons := make([]string, len(insufficient))
	for i, r := range insufficient {
		reasons[i] = r.Reason
	}
	return framework.NewStatus(framework.Unschedulable, reasons...)
}

// Fits lists the resources of req that do not fit on the node.
func Fits(req *framework.Resource, ni *framework.NodeInfo, ignored map[string]bool) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := &ni.Allocatable, &ni.Requested
	if int64(len(ni.Pods))+1 > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{Name: v1.ResourcePods, Reason: "Too many pods", Requested: 1, Used: int64(len(ni.Pods)), Capacity: alloc.AllowedPodNumber})
	}
	check := func(name v1.ResourceName, want, have, capacity int64) {
		if want > 0 && want > capacity-have {
			out = append(out, InsufficientResource{Name: name, Reason: "Insufficient " + string(name), Requested: want, Used: have, Capacity: capacity})
		}
	}
	check(v1.ResourceCPU, req.MilliCPU, used.MilliCPU, alloc.MilliCPU)
	check(v1.ResourceMemory, req.Memory, used.Memory, alloc.Memory)
	check(v1.ResourceEphemeralStorage, req.EphemeralStorage, used.EphemeralStorage, alloc.EphemeralStorage)
	for name, want := range req.Scalar {
		if ignored[string(name)] {
			continue
		}
		check(name, want, used.Scalar[name], alloc.Scalar[name])
	}
	return out
}

// Score implements framework.ScorePlugin.
func (f *Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s := podState(state, pod)
	var total, weights int64
	for _, r := range f.resources {
		alloc, req := Usage(ni, s, v1.ResourceName(r.Name))
		if alloc == 0 {
			continue
		}
		var score int64
		switch f.strategy {
		case MostAllocated:
			if req > alloc {
				req = alloc
			}
			score = req * framework.MaxNodeScore / alloc
		default:
			if req > alloc {
				score = 0
			} else {
				score = (alloc - req) * framework.MaxNodeScore / alloc
			}
		}
		total += score * r.Weight
		weights += r.Weight
	}
	if weights == 0 {
		return 0, nil
	}
	return total / weights, nil
}

// Usage returns a node's allocatable and what would be requested with the
// pod added, using the scoring defaults for pods that request nothing.
func Usage(ni *framework.NodeInfo, s *PodRequests, name v1.ResourceName) (alloc, req int64) {
	switch name {
	case v1.ResourceCPU:
		return ni.Allocatable.MilliCPU, ni.NonZeroRequested.MilliCPU + s.NonZeroCPU
	case v1.ResourceMemory:
		return ni.Allocatable.Memory, ni.NonZeroRequested.Memory + s.NonZeroMem
	}
	return ni.Allocatable.Get(name), ni.Requested.Get(name) + s.Req.Get(name)
}

// PodUsage exposes the computed requests to other plugins of this family.
func PodUsage(state *framework.CycleState, pod *v1.Pod) *PodRequests { return podState(state, pod) }

// ScoreExtensions implements framework.ScorePlugin.
func (f *Fit) ScoreExtensions() framework.ScoreExtensions { return nil }
