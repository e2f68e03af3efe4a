// Package nodename rejects every node but the one a pod names in
// spec.nodeName (such pods are normally not scheduled at all; the filter
// keeps preemption and dry runs honest).
package nodename

import (
	"context"
	"encoding/json"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodeName"

// ErrReason is the filter's reason, as in Kubernetes.
const ErrReason = "node(s) didn't match the requested node name"

// NodeName is the plugin.
type NodeName struct{}

var (
	_ framework.FilterPlugin      = &NodeName{}
	_ framework.EnqueueExtensions = &NodeName{}
)

// New builds the plugin.
func New(_ json.RawMessage, _ framework.Handle) (framework.Plugin, error) { return &NodeName{}, nil }

// Name implements framework.Plugin.
func (pl *NodeName) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (pl *NodeName) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{{Resource: framework.EventNode, ActionType: framework.Add}}
}

// Filter implements framework.FilterPlugin.
func (pl *NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != ni.Node().Name {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
	}
	return nil
}
