// Package cache is the scheduler's view of nodes and the pods on them,
// including pods it has assumed onto a node before the binding is observed,
// and the per-cycle snapshot the plugins read.
package cache

import (
	"errors"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
)

// Errors of the cache.
var (
	// ErrPodAssumed is returned when assuming a pod the cache already holds.
	ErrPodAssumed = errors.New("cache: pod already in the cache")
	// ErrPodNotAssumed is returned when forgetting a pod that is not assumed.
	ErrPodNotAssumed = errors.New("cache: pod is not assumed")
)

type nodeItem struct {
	info       *framework.NodeInfo
	next, prev *nodeItem
}

type podState struct {
	pod *v1.Pod
	// info is the accounted PodInfo (reused when an assumption is confirmed).
	info *framework.PodInfo
	// bindingFinished is set when the bind call returned.
	bindingFinished bool
}

type imageState struct {
	size  int64
	nodes map[string]struct{}
}

// Cache holds NodeInfos, most recently changed first, so that a snapshot
// only copies what changed since the last one.
type Cache struct {
	mu         sync.RWMutex
	nodes      map[string]*nodeItem
	head       *nodeItem
	podStates  map[types.UID]*podState
	assumed    map[types.UID]struct{}
	images     map[string]*imageState
	generation int64
	// nodeCount is the number of items with a Node object.
	nodeCount int
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{
		nodes:     map[string]*nodeItem{},
		podStates: map[types.UID]*podState{},
		assumed:   map[types.UID]struct{}{},
		images:    map[string]*imageState{},
	}
}

func (c *Cache) nextGeneration() int64 {
	c.generation++
	return c.generation
}

// moveToHead marks the item changed.
func (c *Cache) moveToHead(it *nodeItem) {
	it.info.Generation = c.nextGeneration()
	if c.head == it {
		return
	}
	if it.prev != nil {
		it.prev.next = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	it.prev = nil
	it.next = c.head
	if c.head != nil {
		c.head.prev = it
	}
	c.head = it
}

func (c *Cache) unlink(it *nodeItem) {
	if it.prev != nil {
		it.prev.next = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	if c.head == it {
		c.head = it.next
	}
}

func (c *Cache) item(name string) *nodeItem {
	it, ok := c.nodes[name]
	if !ok {
		it = &nodeItem{info: framework.NewNodeInfo()}
		c.nodes[name] = it
	}
	return it
}

func (c *Cache) addPodLocked(pod *v1.Pod) {
	c.addPodInfoLocked(framework.NewPodInfo(pod))
}

func (c *Cache) addPodInfoLocked(pi *framework.PodInfo) {
	it := c.item(pi.Pod.Spec.NodeName)
	it.info.AddPodInfo(pi)
	c.moveToHead(it)
}

func (c *Cache) removePodLocked(pod *v1.Pod) {
	it, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		return
	}
	it.info.RemovePod(pod)
	if it.info.Node() == nil && len(it.info.Pods) == 0 {
		c.unlink(it)
		delete(c.nodes, pod.Spec.NodeName)
		c.generation++
		return
	}
	c.moveToHead(it)
}

// AssumePod accounts pod (with spec.nodeName set) before its binding is seen.
func (c *Cache) AssumePod(pod *v1.Pod) error {
	return c.AssumePodInfo(framework.NewPodInfo(pod))
}

// AssumePodInfo is AssumePod with the requests and terms already parsed.
func (c *Cache) AssumePodInfo(pi *framework.PodInfo) error {
	pod := pi.Pod
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.podStates[pod.UID]; ok {
		return fmt.Errorf("%w: %s/%s", ErrPodAssumed, pod.Namespace, pod.Name)
	}
	c.addPodInfoLocked(pi)
	c.podStates[pod.UID] = &podState{pod: pod, info: pi}
	c.assumed[pod.UID] = struct{}{}
	return nil
}

// FinishBinding records that the bind call for an assumed pod returned.
func (c *Cache) FinishBinding(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.podStates[pod.UID]; ok {
		if _, assumed := c.assumed[pod.UID]; assumed {
			ps.bindingFinished = true
		}
	}
}

// ForgetPod undoes AssumePod (binding failed).
func (c *Cache) ForgetPod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[pod.UID]
	if _, assumed := c.assumed[pod.UID]; !ok || !assumed {
		return fmt.Errorf("%w: %s/%s", ErrPodNotAssumed, pod.Namespace, pod.Name)
	}
	c.removePodLocked(ps.pod)
	delete(c.assumed, pod.UID)
	delete(c.podStates, pod.UID)
	return nil
}

// IsAssumedPod reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *v1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.assumed[pod.UID]
	return ok
}

// AddPod accounts an assigned pod seen by the informer; an assumed pod is
// confirmed (and moved if it landed elsewhere).
func (c *Cache) AddPod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[pod.UID]
	if ok {
		if _, assumed := c.assumed[pod.UID]; assumed {
			c.removePodLocked(ps.pod)
			if ps.info != nil && ps.pod.Spec.NodeName == pod.Spec.NodeName && ps.pod.Generation == pod.Generation {
				// Binding changes nothing the PodInfo derives from.
				pi := *ps.info
				pi.Pod = pod
				c.addPodInfoLocked(&pi)
			} else {
				c.addPodLocked(pod)
			}
			delete(c.assumed, pod.UID)
			ps.pod, ps.info = pod, nil
			return
		}
		// Seen twice (e.g. re-list): treat as update.
		c.removePodLocked(ps.pod)
		c.addPodLocked(pod)
		ps.pod = pod
		return
	}
	c.addPodLocked(pod)
	c.podStates[pod.UID] = &podState{pod: pod}
}

// UpdatePod replaces an assigned pod.
func (c *Cache) UpdatePod(oldPod, newPod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[oldPod.UID]
	if !ok {
		c.addPodLocked(newPod)
		c.podStates[newPod.UID] = &podState{pod: newPod}
		return
	}
	c.removePodLocked(ps.pod)
	c.addPodLocked(newPod)
	ps.pod = newPod
	delete(c.assumed, newPod.UID)
}

// RemovePod removes an assigned pod.
func (c *Cache) RemovePod(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.podStates[pod.UID]
	if !ok {
		return
	}
	c.removePodLocked(ps.pod)
	delete(c.podStates, pod.UID)
	delete(c.assumed, pod.UID)
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.item(node.Name)
	if old := it.info.Node(); old != nil {
		c.removeImages(old)
	} else {
		c.nodeCount++
	}
	it.info.SetNode(node)
	c.addImages(node)
	c.moveToHead(it)
}

// UpdateNode replaces a node.
func (c *Cache) UpdateNode(_, node *v1.Node) { c.AddNode(node) }

// RemoveNode removes a node; its pods stay until they are deleted.
func (c *Cache) RemoveNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.nodes[node.Name]
	if !ok {
		return
	}
	if it.info.Node() != nil {
		c.nodeCount--
	}
	c.removeImages(node)
	if len(it.info.Pods) > 0 {
		ni := framework.NewNodeInfo()
		for _, pi := range it.info.Pods {
			ni.AddPodInfo(pi)
		}
		it.info = ni
		c.moveToHead(it)
		return
	}
	c.unlink(it)
	delete(c.nodes, node.Name)
	c.generation++
}

func (c *Cache) addImages(node *v1.Node) {
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			st, ok := c.images[name]
			if !ok {
				st = &imageState{size: img.SizeBytes, nodes: map[string]struct{}{}}
				c.images[name] = st
			}
			st.nodes[node.Name] = struct{}{}
		}
	}
}

func (c *Cache) removeImages(node *v1.Node) {
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if st, ok := c.images[name]; ok {
				delete(st.nodes, node.Name)
				if len(st.nodes) == 0 {
					delete(c.images, name)
				}
			}
		}
	}
}

// NodeCount is the number of nodes (with a Node object).
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nodeCount
}

// PodCount is the number of pods on nodes, assumed included.
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.podStates)
}

// UpdateSnapshot brings s up to date, copying only nodes changed since
// its last update.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changedAffinity := false
	changedList := false
	for it := c.head; it != nil; it = it.next {
		if it.info.Generation <= s.generation {
			break
		}
		node := it.info.Node()
		if node == nil {
			continue
		}
		clone := it.info.Clone()
		clone.ImageStates = c.imageSummaries(node)
		old, existed := s.nodeInfoMap[node.Name]
		if !existed {
			changedList = true
		} else if (len(old.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) ||
			(len(old.PodsWithRequiredAntiAffinity) > 0) != (len(clone.PodsWithRequiredAntiAffinity) > 0) {
			changedAffinity = true
		}
		if existed {
			idx := old.Index
			*old = *clone
			old.Index = idx
		} else {
			s.nodeInfoMap[node.Name] = clone
		}
	}
	// Nodes removed from the cache.
	if len(s.nodeInfoMap) > c.nodeCount {
		for name := range s.nodeInfoMap {
			if it, ok := c.nodes[name]; !ok || it.info.Node() == nil {
				delete(s.nodeInfoMap, name)
			}
		}
		changedList = true
	}
	s.generation = c.generation
	if changedList || changedAffinity || len(s.nodeInfoList) != len(s.nodeInfoMap) {
		s.rebuildLists(changedList)
	}
}

func (c *Cache) imageSummaries(node *v1.Node) map[string]*framework.ImageStateSummary {
	if len(node.Status.Images) == 0 {
		return nil
	}
	out := make(map[string]*framework.ImageStateSummary, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if st, ok := c.images[name]; ok {
				out[name] = &framework.ImageStateSummary{Size: st.size, NumNodes: len(st.nodes)}
			}
		}
	}
	return out
}
