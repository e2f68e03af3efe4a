package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// MaxNodeScore and MinNodeScore bound normalised scores.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// Plugin is anything the framework runs.
type Plugin interface {
	Name() string
}

// PreFilterResult narrows the nodes to evaluate (nil NodeNames: all).
type PreFilterResult struct {
	NodeNames map[string]struct{}
}

// PreFilterPlugin computes per-pod state before filtering.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod) (*PreFilterResult, *Status)
	// PreFilterExtensions may be nil; preemption uses them to update the
	// pre-computed state when it adds or removes pods in a dry run.
	PreFilterExtensions() PreFilterExtensions
}

// PreFilterExtensions update PreFilter state incrementally.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin rejects nodes that cannot run the pod.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterResult carries a nominated node.
type PostFilterResult struct {
	NominatedNodeName string
}

// PostFilterPlugin runs when no node fits (e.g. preemption).
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, filteredNodeStatusMap NodeToStatusMap) (*PostFilterResult, *Status)
}

// PreScorePlugin prepares scoring for the feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// NodeScoreList is a plugin's scores in node order.
type NodeScoreList []NodeScore

// ScorePlugin ranks feasible nodes.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	// ScoreExtensions may be nil.
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalise raw scores into [MinNodeScore, MaxNodeScore].
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores NodeScoreList) *Status
}

// ReservePlugin is told when a node is reserved for the pod and when the
// reservation is undone.
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string)
}

// PermitPlugin may approve, deny or hold (Wait with a timeout) a pod.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin runs before binding (e.g. volume provisioning hints).
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// BindPlugin binds; Skip passes to the next bind plugin.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status
}

// EventResource names what changed in the cluster.
type EventResource string

// Resources whose changes requeue unschedulable pods.
const (
	EventPod                   EventResource = "Pod"
	EventAssignedPod           EventResource = "AssignedPod"
	EventNode                  EventResource = "Node"
	EventPersistentVolume      EventResource = "PersistentVolume"
	EventPersistentVolumeClaim EventResource = "PersistentVolumeClaim"
	EventStorageClass          EventResource = "StorageClass"
	EventWildCard              EventResource = "*"
)

// ActionType is a bit set of changes.
type ActionType int

// Actions.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	UpdatePodLabel
	UpdatePodScaleDown
	UpdateOther

	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition | UpdatePodLabel | UpdatePodScaleDown | UpdateOther
	All    = Add | Delete | Update
)

// ClusterEvent is a kind of change.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
	Label      string
}

// Match reports whether a registered event covers e.
func (c ClusterEvent) Match(e ClusterEvent) bool {
	if c.Resource == EventWildCard {
		return true
	}
	return c.Resource == e.Resource && c.ActionType&e.ActionType != 0
}

// EnqueueExtensions name the events that may make a pod this plugin
// rejected schedulable.
type EnqueueExtensions interface {
	EventsToRegister() []ClusterEvent
}

// StateKey keys CycleState.
type StateKey string

// StateData is what a plugin keeps for one cycle.
type StateData interface {
	Clone() StateData
}

// CycleState is per-pod scheduling-cycle storage shared by plugins.
type CycleState struct {
	// m is replaced, never changed, on Write: Filter and Score read it
	// for thousands of nodes in parallel, and a read lock's shared
	// counter is contended on every one of those reads.
	m  atomic.Pointer[map[StateKey]StateData]
	mu sync.Mutex // serialises writers
	// PodInfo is the pod being scheduled, parsed once by the queue.
	PodInfo         *PodInfo
	SkipFilter      map[string]struct{}
	SkipScore       map[string]struct{}
	ShouldRecordMsg bool
	// filters are the Filter plugins not skipped, resolved once by
	// RunPreFilterPlugins (nil: check SkipFilter per plugin).
	filters []FilterPlugin
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	c := &CycleState{}
	c.m.Store(&map[StateKey]StateData{})
	return c
}

func (c *CycleState) load() map[StateKey]StateData {
	if m := c.m.Load(); m != nil {
		return *m
	}
	return nil
}

// Read returns the value or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if v, ok := c.load()[key]; ok {
		return v, nil
	}
	return nil, ErrNotFound
}

// update replaces the map with a changed copy (a cycle writes a few keys).
func (c *CycleState) update(change func(map[StateKey]StateData)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.load()
	n := make(map[StateKey]StateData, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	change(n)
	c.m.Store(&n)
}

// Write stores a value.
func (c *CycleState) Write(key StateKey, v StateData) {
	c.update(func(m map[StateKey]StateData) { m[key] = v })
}

// Delete removes a value.
func (c *CycleState) Delete(key StateKey) {
	c.update(func(m map[StateKey]StateData) { delete(m, key) })
}

// Clone deep-copies every value (preemption dry runs mutate clones).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	old := c.load()
	n := &CycleState{SkipFilter: c.SkipFilter, SkipScore: c.SkipScore, PodInfo: c.PodInfo, filters: c.filters}
	m := make(map[StateKey]StateData, len(old))
	for k, v := range old {
		if v != nil {
			m[k] = v.Clone()
		}
	}
	n.m.Store(&m)
	return n
}

// PodInfoFor returns the cycle's parsed PodInfo for pod, or parses it.
func PodInfoFor(state *CycleState, pod *v1.Pod) *PodInfo {
	if state != nil && state.PodInfo != nil && state.PodInfo.Pod.UID == pod.UID {
		return state.PodInfo
	}
	return NewPodInfo(pod)
}

// Handle is what plugins get from the framework.
type Handle interface {
	// SnapshotSharedLister reads the snapshot of the current cycle.
	SnapshotSharedLister() NodeInfoLister
	ClientSet() kubernetes.Interface
	SharedInformerFactory() informers.SharedInformerFactory
	Logger() *zap.Logger
	Parallelizer() Parallelizer
	// EventRecorder records events as the profile (never nil).
	EventRecorder() record.EventRecorder
	// PluginRunner lets PostFilter plugins re-run filters in dry runs.
	PluginRunner
	// Nominator lists pods nominated to nodes.
	Nominator
	// GetWaitingPod finds a pod held by a Permit plugin.
	GetWaitingPod(uid string) WaitingPod
}

// PluginRunner runs filters and PreFilter extensions on modified state.
type PluginRunner interface {
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status
	RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status
}

// Nominator tracks pods that preempted others and wait for their node.
type Nominator interface {
	NominatedPodsForNode(nodeName string) []*PodInfo
}

// WaitingPod is a pod held at Permit.
type WaitingPod interface {
	Pod() *v1.Pod
	Allow(pluginName string)
	Reject(pluginName, msg string)
}

// Parallelizer runs work across goroutines.
type Parallelizer interface {
	Until(ctx context.Context, pieces int, work func(i int))
}

// Chunks runs work over [0, n) in contiguous ranges, in parallel, so that
// each range can keep its own memo across its items.
func Chunks(ctx context.Context, p Parallelizer, n, chunks int, work func(from, to int)) {
	if n <= 0 {
		return
	}
	if chunks > n {
		chunks = n
	}
	size := (n + chunks - 1) / chunks
	p.Until(ctx, (n+size-1)/size, func(c int) {
		work(c*size, min((c+1)*size, n))
	})
}

// PluginFactory builds a plugin from its args: the plugin's pluginConfig
// entry as JSON (nil: defaults).
type PluginFactory func(args json.RawMessage, h Handle) (Plugin, error)

// DecodeArgs strictly decodes a plugin's args into out (nil keeps out).
func DecodeArgs(args json.RawMessage, out any) error {
	if len(args) == 0 || string(args) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("framework: plugin args: %w", err)
	}
	return nil
}

// Registry maps plugin names to factories.
type Registry map[string]PluginFactory
