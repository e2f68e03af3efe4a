// Package plugins is the one registry of the scheduler's plugins and the
// default plugin set with Kubernetes' default score weights.
package plugins

import (
	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/framework/plugins/balancedallocation"
	"drover.dev/scheduler/internal/framework/plugins/defaultbinder"
	"drover.dev/scheduler/internal/framework/plugins/defaultpreemption"
	"drover.dev/scheduler/internal/framework/plugins/imagelocality"
	"drover.dev/scheduler/internal/framework/plugins/interpodaffinity"
	"drover.dev/scheduler/internal/framework/plugins/nodeaffinity"
	"drover.dev/scheduler/internal/framework/plugins/nodename"
	"drover.dev/scheduler/internal/framework/plugins/nodeports"
	"drover.dev/scheduler/internal/framework/plugins/noderesources"
	"drover.dev/scheduler/internal/framework/plugins/nodeunschedulable"
	"drover.dev/scheduler/internal/framework/plugins/podtopologyspread"
	"drover.dev/scheduler/internal/framework/plugins/tainttoleration"
	"drover.dev/scheduler/internal/framework/plugins/volumebinding"
)

// NewRegistry returns every built-in plugin by name.
func NewRegistry() framework.Registry {
	return framework.Registry{
		nodeunschedulable.Name:  nodeunschedulable.New,
		nodename.Name:           nodename.New,
		tainttoleration.Name:    tainttoleration.New,
		nodeaffinity.Name:       nodeaffinity.New,
		nodeports.Name:          nodeports.New,
		noderesources.Name:      noderesources.New,
		volumebinding.Name:      volumebinding.New,
		podtopologyspread.Name:  podtopologyspread.New,
		interpodaffinity.Name:   interpodaffinity.New,
		defaultpreemption.Name:  defaultpreemption.New,
		balancedallocation.Name: balancedallocation.New,
		imagelocality.Name:      imagelocality.New,
		defaultbinder.Name:      defaultbinder.New,
	}
}

// DefaultPlugins is the multi-point default set, in Kubernetes' order
// (filters run cheapest first) with its score weights.
func DefaultPlugins() []framework.DefaultPlugin {
	return []framework.DefaultPlugin{
		{Name: nodeunschedulable.Name},
		{Name: nodename.Name},
		{Name: tainttoleration.Name, Weight: 3},
		{Name: nodeaffinity.Name, Weight: 2},
		{Name: nodeports.Name},
		{Name: noderesources.Name, Weight: 1},
		{Name: volumebinding.Name},
		{Name: podtopologyspread.Name, Weight: 2},
		{Name: interpodaffinity.Name, Weight: 2},
		{Name: defaultpreemption.Name},
		{Name: balancedallocation.Name, Weight: 1},
		{Name: imagelocality.Name, Weight: 1},
		{Name: defaultbinder.Name},
	}
}
