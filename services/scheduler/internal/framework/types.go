package framework

import (
	"fmt"
	"strings"
	"sync"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// Defaults used for scoring pods that request nothing, as in Kubernetes:
// otherwise an empty pod would look free and pile onto one node.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a set of quantities in the units the scheduler compares.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64
	Scalar           map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) Resource {
	var r Resource
	r.Add(rl)
	return r
}

// Add adds a ResourceList.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[v1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// AddResource adds (sign 1) or subtracts (sign -1) another Resource.
func (r *Resource) AddResource(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.AllowedPodNumber += sign * o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[v1.ResourceName]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

// Get returns the quantity of one resource.
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	}
	return r.Scalar[name]
}

// Clone deep-copies.
func (r Resource) Clone() Resource {
	if r.Scalar != nil {
		s := make(map[v1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			s[k] = v
		}
		r.Scalar = s
	}
	return r
}

// AffinityTerm is a pod (anti-)affinity term parsed once.
type AffinityTerm struct {
	// Key identifies what the term selects (namespaces, selectors,
	// topology key); equal terms of pods from one template share one
	// interned string, so callers can memoise matches by it.
	Key string
	// namespace is set when Namespaces holds exactly one name (fast path).
	namespace         string
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches reports whether pod is selected by the term; nsLabels are the
// labels of pod's namespace (only needed with a namespace selector).
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.namespace != "" && t.NamespaceSelector == nil {
		return t.namespace == pod.Namespace && t.Selector.Matches(labels.Set(pod.Labels))
	}
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && t.NamespaceSelector.Matches(nsLabels)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// MatchCache remembers the last label set (by identity) a selector was
// matched against: pods stamped from one template share an interned label
// map, so runs of equal pods cost one match.
type MatchCache struct {
	id    uintptr
	ns    string
	ok    bool
	valid bool
}

// LabelsID is the identity of a label map (equal for interned maps).
func LabelsID(m map[string]string) uintptr {
	return *(*uintptr)(unsafe.Pointer(&m))
}

// Matches reports whether pod matches, using and updating the cache.
// match is only called on a miss.
func (c *MatchCache) Matches(pod *v1.Pod, match func() bool) bool {
	id := LabelsID(pod.Labels)
	if c.valid && id != 0 && c.id == id && c.ns == pod.Namespace {
		return c.ok
	}
	ok := match()
	c.id, c.ns, c.ok, c.valid = id, pod.Namespace, ok, true
	return ok
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with what the plugins derive from it, computed once.
type PodInfo struct {
	Pod      *v1.Pod
	Requests Resource
	// NonZeroCPU/NonZeroMem substitute defaults for unset requests (scoring).
	NonZeroCPU int64
	NonZeroMem int64

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseError is set when an affinity term's selector is invalid.
	ParseError error
}

// NewPodInfo derives a PodInfo.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{}
	pi.Update(pod)
	return pi
}

// Update recomputes everything from pod.
func (pi *PodInfo) Update(pod *v1.Pod) {
	*pi = PodInfo{Pod: pod}
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	pi.Requests = NewResource(reqs)
	pi.NonZeroCPU, pi.NonZeroMem = pi.Requests.MilliCPU, pi.Requests.Memory
	if _, ok := reqs[v1.ResourceCPU]; !ok {
		pi.NonZeroCPU = nonZeroFromContainers(pod, v1.ResourceCPU)
	}
	if _, ok := reqs[v1.ResourceMemory]; !ok {
		pi.NonZeroMem = nonZeroFromContainers(pod, v1.ResourceMemory)
	}
	aff := pod.Spec.Affinity
	if aff == nil {
		return
	}
	if pa := aff.PodAffinity; pa != nil {
		pi.RequiredAffinityTerms = pi.terms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
		pi.PreferredAffinityTerms = pi.weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := aff.PodAntiAffinity; pa != nil {
		pi.RequiredAntiAffinityTerms = pi.terms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution)
		pi.PreferredAntiAffinityTerms = pi.weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
}

// nonZeroFromContainers applies the per-container scoring default, as
// Kubernetes does, when the pod-level sum has no such resource.
func nonZeroFromContainers(pod *v1.Pod, name v1.ResourceName) int64 {
	def := DefaultMilliCPURequest
	if name == v1.ResourceMemory {
		def = DefaultMemoryRequest
	}
	var sum int64
	for i := range pod.Spec.Containers {
		q, ok := pod.Spec.Containers[i].Resources.Requests[name]
		switch {
		case !ok:
			sum += def
		case name == v1.ResourceCPU:
			sum += q.MilliValue()
		default:
			sum += q.Value()
		}
	}
	return sum
}

func (pi *PodInfo) terms(pod *v1.Pod, in []v1.PodAffinityTerm) []AffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]AffinityTerm, 0, len(in))
	for i := range in {
		t, err := parseTerm(pod, &in[i])
		if err != nil {
			pi.ParseError = err
			continue
		}
		out = append(out, t)
	}
	return out
}

func (pi *PodInfo) weightedTerms(pod *v1.Pod, in []v1.WeightedPodAffinityTerm) []WeightedAffinityTerm {
	if len(in) == 0 {
		return nil
	}
	out := make([]WeightedAffinityTerm, 0, len(in))
	for i := range in {
		t, err := parseTerm(pod, &in[i].PodAffinityTerm)
		if err != nil {
			pi.ParseError = err
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: in[i].Weight})
	}
	return out
}

// NewAffinityTerm parses a term of pod. An empty namespace list and no
// namespace selector mean the pod's own namespace; an empty namespace
// selector means every namespace.
func NewAffinityTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("framework: affinity term selector: %w", err)
	}
	if t.LabelSelector == nil {
		sel = labels.Nothing()
	}
	// matchLabelKeys / mismatchLabelKeys merge the pod's own values.
	if len(t.MatchLabelKeys) > 0 || len(t.MismatchLabelKeys) > 0 {
		var reqs []labels.Requirement
		for _, k := range t.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, "in", []string{v}); err == nil {
					reqs = append(reqs, *r)
				}
			}
		}
		for _, k := range t.MismatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, "notin", []string{v}); err == nil {
					reqs = append(reqs, *r)
				}
			}
		}
		sel = sel.Add(reqs...)
	}
	ns := sets.New(t.Namespaces...)
	var nsSel labels.Selector
	if t.NamespaceSelector != nil {
		nsSel, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			return AffinityTerm{}, fmt.Errorf("framework: affinity namespace selector: %w", err)
		}
	} else if len(t.Namespaces) == 0 {
		ns.Insert(pod.Namespace)
	}
	at := AffinityTerm{Namespaces: ns, Selector: sel, TopologyKey: t.TopologyKey, NamespaceSelector: nsSel}
	if ns.Len() == 1 {
		at.namespace = ns.UnsortedList()[0]
	}
	nsSelKey := "<none>"
	if nsSel != nil {
		nsSelKey = nsSel.String()
	}
	at.Key = internKey(strings.Join(sets.List(ns), ",") + "|" + nsSelKey + "|" + SelectorKey(sel) + "|" + t.TopologyKey)
	return at, nil
}

type parsedKey struct {
	term *v1.PodAffinityTerm
	ns   string
}

// parsed caches terms by identity: pods of one workload share their
// affinity (the informer interns it), so their terms are parsed once and
// share one selector. Terms that depend on the pod's own labels
// (matchLabelKeys) are not cached. Informer objects are never written, so
// a term's identity fixes its content.
var parsed = struct {
	sync.Mutex
	m map[parsedKey]AffinityTerm
}{m: map[parsedKey]AffinityTerm{}}

func parseTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	if len(t.MatchLabelKeys) > 0 || len(t.MismatchLabelKeys) > 0 {
		return NewAffinityTerm(pod, t)
	}
	k := parsedKey{t, pod.Namespace}
	parsed.Lock()
	at, ok := parsed.m[k]
	parsed.Unlock()
	if ok {
		return at, nil
	}
	at, err := NewAffinityTerm(pod, t)
	if err != nil {
		return at, err
	}
	parsed.Lock()
	if len(parsed.m) >= 4096 {
		parsed.m = map[parsedKey]AffinityTerm{}
	}
	parsed.m[k] = at
	parsed.Unlock()
	return at, nil
}

// SelectorKey identifies what a selector selects: its string, except
// for the selector of nothing, whose string ("") is that of everything.
func SelectorKey(sel labels.Selector) string {
	if _, selectable := sel.Requirements(); !selectable {
		return "<nothing>"
	}
	return sel.String()
}

var keys = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// internKey returns one shared copy of k (the table is reset when large).
func internKey(k string) string {
	keys.Lock()
	defer keys.Unlock()
	if v, ok := keys.m[k]; ok {
		return v
	}
	if len(keys.m) > 50000 {
		keys.m = map[string]string{}
	}
	keys.m[k] = k
	return k
}

// TermMatchCache memoises term matches against one fixed pod by term Key.
type TermMatchCache struct {
	key string
	ok  bool
}

// Matches reports whether t matches pod, reusing the last answer when
// the term equals the previous one.
func (c *TermMatchCache) Matches(t *AffinityTerm, pod *v1.Pod, nsLabels labels.Set) bool {
	if c.key != "" && c.key == t.Key {
		return c.ok
	}
	c.key, c.ok = t.Key, t.Matches(pod, nsLabels)
	return c.ok
}

// PodPriority is the pod's priority (0 when unset).
func PodPriority(pod *v1.Pod) int32 { return corev1helpers.PodPriority(pod) }

// HostPort is one used (ip, protocol, port).
type HostPort struct {
	IP       string
	Protocol v1.Protocol
	Port     int32
}

// ImageStateSummary is what ImageLocality needs about one image on a node.
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// NodeInfo is a node with the pods assigned or assumed on it and their sums.
type NodeInfo struct {
	node                         *v1.Node
	Pods                         []*PodInfo
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	UsedPorts                    map[HostPort]struct{}
	Requested                    Resource
	NonZeroRequested             Resource
	Allocatable                  Resource
	ImageStates                  map[string]*ImageStateSummary
	// PVCRefCounts counts pods using each "namespace/claim" on this node.
	PVCRefCounts map[string]int
	// Generation is bumped on every change; snapshots copy changed nodes only.
	Generation int64
	// Index is the node's position in its snapshot's List (set by the
	// snapshot): plugins keep per-node data in slices aligned with List
	// and find a node's entry without hashing its name or labels. Check
	// list[Index] == ni before use; copies made for dry runs are not in
	// the list.
	Index int
}

// NewNodeInfo returns an empty NodeInfo holding pods.
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{UsedPorts: map[HostPort]struct{}{}, ImageStates: map[string]*ImageStateSummary{}, PVCRefCounts: map[string]int{}}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node is the node object (nil for a placeholder holding pods of a node
// the cache has not seen yet).
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and its allocatable.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
}

// AddPod accounts a pod.
func (n *NodeInfo) AddPod(pod *v1.Pod) { n.AddPodInfo(NewPodInfo(pod)) }

// AddPodInfo accounts a pod.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0 ||
		len(pi.PreferredAffinityTerms) > 0 || len(pi.PreferredAntiAffinityTerms) > 0 {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes a pod by UID; it reports whether the pod was there.
func (n *NodeInfo) RemovePod(pod *v1.Pod) bool {
	n.PodsWithAffinity = removeFrom(n.PodsWithAffinity, pod)
	n.PodsWithRequiredAntiAffinity = removeFrom(n.PodsWithRequiredAntiAffinity, pod)
	for i, pi := range n.Pods {
		if pi.Pod.UID == pod.UID {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			n.update(pi, -1)
			return true
		}
	}
	return false
}

func removeFrom(s []*PodInfo, pod *v1.Pod) []*PodInfo {
	for i, pi := range s {
		if pi.Pod.UID == pod.UID {
			last := len(s) - 1
			s[i] = s[last]
			s[last] = nil
			return s[:last]
		}
	}
	return s
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	n.Requested.AddResource(&pi.Requests, sign)
	n.NonZeroRequested.MilliCPU += sign * pi.NonZeroCPU
	n.NonZeroRequested.Memory += sign * pi.NonZeroMem
	for _, c := range pi.Pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPortKey(p)
			if sign > 0 {
				n.UsedPorts[hp] = struct{}{}
			} else {
				delete(n.UsedPorts, hp)
			}
		}
	}
	for _, v := range pi.Pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			k := pi.Pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
			n.PVCRefCounts[k] += int(sign)
			if n.PVCRefCounts[k] <= 0 {
				delete(n.PVCRefCounts, k)
			}
		}
	}
}

// HostPortKey normalises a container port's host binding.
func HostPortKey(p v1.ContainerPort) HostPort {
	ip, proto := p.HostIP, p.Protocol
	if ip == "" {
		ip = "0.0.0.0"
	}
	if proto == "" {
		proto = v1.ProtocolTCP
	}
	return HostPort{IP: ip, Protocol: proto, Port: p.HostPort}
}

// Clone copies the NodeInfo so that the copy can be changed (preemption
// dry-runs, snapshots) without touching the original; pods are shared.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Pods:             append([]*PodInfo(nil), n.Pods...),
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
		UsedPorts:        make(map[HostPort]struct{}, len(n.UsedPorts)),
		ImageStates:      n.ImageStates,
		PVCRefCounts:     make(map[string]int, len(n.PVCRefCounts)),
		Generation:       n.Generation,
		Index:            n.Index,
	}
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	}
	for k := range n.UsedPorts {
		c.UsedPorts[k] = struct{}{}
	}
	for k, v := range n.PVCRefCounts {
		c.PVCRefCounts[k] = v
	}
	return c
}

// NodeInfoLister reads nodes of a snapshot.
type NodeInfoLister interface {
	List() []*NodeInfo
	HavePodsWithAffinityList() []*NodeInfo
	HavePodsWithRequiredAntiAffinityList() []*NodeInfo
	Get(name string) (*NodeInfo, error)
}
