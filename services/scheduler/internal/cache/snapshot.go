package cache

import (
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"

	"drover.dev/scheduler/internal/framework"
)

// Snapshot is the immutable-per-cycle view plugins read.
type Snapshot struct {
	nodeInfoMap                          map[string]*framework.NodeInfo
	nodeInfoList                         []*framework.NodeInfo
	havePodsWithAffinityList             []*framework.NodeInfo
	havePodsWithRequiredAntiAffinityList []*framework.NodeInfo
	generation                           int64
}

var _ framework.NodeInfoLister = &Snapshot{}

// NewEmptySnapshot returns a snapshot to be filled by Cache.UpdateSnapshot.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodeInfoMap: map[string]*framework.NodeInfo{}}
}

// NewSnapshot builds a snapshot directly from pods and nodes (tests).
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	s := NewEmptySnapshot()
	for _, n := range nodes {
		ni := framework.NewNodeInfo()
		ni.SetNode(n)
		s.nodeInfoMap[n.Name] = ni
	}
	for _, p := range pods {
		if ni, ok := s.nodeInfoMap[p.Spec.NodeName]; ok {
			ni.AddPod(p)
		}
	}
	s.rebuildLists(true)
	return s
}

// rebuildLists keeps a stable node order (by name) so that the scheduler's
// round-robin start index means the same node across cycles.
func (s *Snapshot) rebuildLists(reorder bool) {
	if reorder || len(s.nodeInfoList) != len(s.nodeInfoMap) {
		s.nodeInfoList = s.nodeInfoList[:0]
		for _, ni := range s.nodeInfoMap {
			s.nodeInfoList = append(s.nodeInfoList, ni)
		}
		sort.Slice(s.nodeInfoList, func(i, j int) bool {
			return s.nodeInfoList[i].Node().Name < s.nodeInfoList[j].Node().Name
		})
		for i, ni := range s.nodeInfoList {
			ni.Index = i
		}
	}
	s.havePodsWithAffinityList = s.havePodsWithAffinityList[:0]
	s.havePodsWithRequiredAntiAffinityList = s.havePodsWithRequiredAntiAffinityList[:0]
	for _, ni := range s.nodeInfoList {
		if len(ni.PodsWithAffinity) > 0 {
			s.havePodsWithAffinityList = append(s.havePodsWithAffinityList, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.havePodsWithRequiredAntiAffinityList = append(s.havePodsWithRequiredAntiAffinityList, ni)
		}
	}
}

// List implements framework.NodeInfoLister.
func (s *Snapshot) List() []*framework.NodeInfo { return s.nodeInfoList }

// HavePodsWithAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo {
	return s.havePodsWithAffinityList
}

// HavePodsWithRequiredAntiAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo {
	return s.havePodsWithRequiredAntiAffinityList
}

// Get implements framework.NodeInfoLister.
func (s *Snapshot) Get(name string) (*framework.NodeInfo, error) {
	if ni, ok := s.nodeInfoMap[name]; ok {
		return ni, nil
	}
	return nil, fmt.Errorf("%w: node %q", framework.ErrNotFound, name)
}

// NumNodes is the number of nodes in the snapshot.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }
