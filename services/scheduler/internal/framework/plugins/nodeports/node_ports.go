// Package nodeports rejects nodes where a hostPort the pod asks for is
// already taken (0.0.0.0 conflicts with every address).
package nodeports

import (
	"context"
	"encoding/json"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "NodePorts"

// ErrReason is the filter's reason, as in Kubernetes.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// NodePorts is the plugin.
type NodePorts struct{}

var (
	_ framework.PreFilterPlugin   = &NodePorts{}
	_ framework.FilterPlugin      = &NodePorts{}
	_ framework.EnqueueExtensions = &NodePorts{}
)

// New builds the plugin.
func New(_ json.RawMessage, _ framework.Handle) (framework.Plugin, error) { return &NodePorts{}, nil }

// Name implements framework.Plugin.
func (pl *NodePorts) Name() string { return Name }

// EventsToRegister implements framework.EnqueueExtensions.
func (pl *NodePorts) EventsToRegister() []framework.ClusterEvent {
	return []framework.ClusterEvent{
		{Resource: framework.EventAssignedPod, ActionType: framework.Delete},
		{Resource: framework.EventNode, ActionType: framework.Add},
	}
}

const preFilterKey framework.StateKey = "PreFilter" + Name

type preFilterState []framework.HostPort

func (s preFilterState) Clone() framework.StateData { return s }

// PreFilter collects the pod's host ports; Skip when it has none.
func (pl *NodePorts) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod) (*framework.PreFilterResult, *framework.Status) {
	var ports preFilterState
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				ports = append(ports, framework.HostPortKey(p))
			}
		}
	}
	if len(ports) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, ports)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (pl *NodePorts) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter implements framework.FilterPlugin.
func (pl *NodePorts) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	d, err := state.Read(preFilterKey)
	if err != nil {
		return framework.AsStatus(err)
	}
	for _, want := range d.(preFilterState) {
		if Conflicts(ni.UsedPorts, want) {
			return framework.NewStatus(framework.Unschedulable, ErrReason)
		}
	}
	return nil
}

// Conflicts reports whether want collides with a used port.
func Conflicts(used map[framework.HostPort]struct{}, want framework.HostPort) bool {
	if want.IP == "0.0.0.0" {
		for u := range used {
			if u.Port == want.Port && u.Protocol == want.Protocol {
				return true
			}
		}
		return false
	}
	if _, ok := used[want]; ok {
		return true
	}
	_, ok := used[framework.HostPort{IP: "0.0.0.0", Protocol: want.Protocol, Port: want.Port}]
	return ok
}
