// Package balancedallocation prefers nodes whose CPU and memory would be
// used in similar fractions after placing the pod (NodeResourcesBalancedAllocation).
package balancedallocation

import (
	"context"
	"encoding/json"
	"math"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/noderesources"
)

// Name is the plugin's name in configuration.
const Name = "NodeResourcesBalancedAllocation"

// Args are NodeResourcesBalancedAllocationArgs.
type Args struct {
	Resources []noderesources.ResourceSpec `json:"resources,omitempty"`
}

// BalancedAllocation is the plugin.
type BalancedAllocation struct{ resources []v1.ResourceName }

var _ framework.ScorePlugin = &BalancedAllocation{}

// New builds the plugin.
func New(raw json.RawMessage, _ framework.Handle) (framework.Plugin, error) {
	var args Args
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	if len(args.Resources) == 0 {
		args.Resources = noderesources.DefaultResources
	}
	b := &BalancedAllocation{}
	for _, r := range args.Resources {
		b.resources = append(b.resources, v1.ResourceName(r.Name))
	}
	return b, nil
}

// Name implements framework.Plugin.
func (b *BalancedAllocation) Name() string { return Name }

// Score is (1 - standard deviation of the used fractions) * MaxNodeScore.
func (b *BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	s := noderesources.PodUsage(state, pod)
	fractions := make([]float64, 0, len(b.resources))
	var sum float64
	for _, r := range b.resources {
		alloc, req := noderesources.Usage(ni, s, r)
		if alloc == 0 {
			continue
		}
		f := float64(req) / float64(alloc)
		if f > 1 {
			f = 1
		}
		fractions = append(fractions, f)
		sum += f
	}
	if len(fractions) == 0 {
		return 0, nil
	}
	mean := sum / float64(len(fractions))
	var variance float64
	for _, f := range fractions {
		variance += (f - mean) * (f - mean)
	}
	std := math.Sqrt(variance / float64(len(fractions)))
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}

// ScoreExtensions implements framework.ScorePlugin.
func (b *BalancedAllocation) ScoreExtensions() framework.ScoreExtensions { return nil }
