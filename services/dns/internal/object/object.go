// Package object trims Service, EndpointSlice and Pod API objects to what
// DNS answers need. Objects are trimmed as they are decoded (a
// cache.TransformFunc, also applied to the reflectors' watch-list buffers),
// and only trimmed objects are kept: most of drover-dns' memory saving
// over keeping whole objects.
package object

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Meta is the part of ObjectMeta that client-go's stores need: the key.
// The resource version is not kept: reflectors read it from the decoded
// object before trimming. It implements metav1.ObjectMetaAccessor, which is
// what meta.Accessor and so cache key functions look for.
type Meta struct {
	Name, Namespace string
}

// GetObjectMeta builds a throw-away ObjectMeta; it is only called when an
// object is stored or deleted, never on a query.
func (m *Meta) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}
}

// GetObjectKind satisfies runtime.Object; compact objects carry no kind.
func (m *Meta) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// Port is a named service or endpoint port.
type Port struct {
	Name     string
	Protocol string // lower case: tcp, udp, sctp
	Port     int32
}

// Service is what answers need of a Service.
type Service struct {
	Meta
	// ClusterIPs is empty for headless and ExternalName services.
	ClusterIPs []netip.Addr
	Headless   bool
	// ExternalName is set for type ExternalName (lower case, fully qualified).
	ExternalName             string
	Ports                    []Port
	PublishNotReadyAddresses bool
}

// DeepCopyObject satisfies runtime.Object; stored objects are never mutated.
func (s *Service) DeepCopyObject() runtime.Object { c := *s; return &c }

// Endpoint is one endpoint of a slice.
type Endpoint struct {
	Addrs    []netip.Addr
	Hostname string
	Ready    bool
}

// EndpointSlice is what answers need of an EndpointSlice.
type EndpointSlice struct {
	Meta
	// Service is the kubernetes.io/service-name label: the owning Service.
	Service   string
	Ports     []Port
	Endpoints []Endpoint
}

// DeepCopyObject satisfies runtime.Object; stored objects are never mutated.
func (s *EndpointSlice) DeepCopyObject() runtime.Object { c := *s; return &c }

// Pod is what verified pod records need: the pod's IPs, and whether it
// finished (its IPs are then free for other pods).
type Pod struct {
	Meta
	IPs      []netip.Addr
	Finished bool
}

// DeepCopyObject satisfies runtime.Object; stored objects are never mutated.
func (p *Pod) DeepCopyObject() runtime.Object { c := *p; return &c }

// Transformer turns API objects into compact ones. It interns namespace
// and port names, which repeat across tens of thousands of objects.
type Transformer struct {
	mu      sync.Mutex
	strings map[string]string
}

// NewTransformer returns a Transformer.
func NewTransformer() *Transformer {
	return &Transformer{strings: map[string]string{}}
}

func (t *Transformer) intern(s string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.strings[s]; ok {
		return v
	}
	s = strings.Clone(s)
	t.strings[s] = s
	return s
}

// Transform is a cache.TransformFunc: Services, EndpointSlices and Pods
// become compact objects; anything else (including an already compact
// object, as client-go may pass one again) is returned unchanged.
func (t *Transformer) Transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return t.Service(o), nil
	case *discoveryv1.EndpointSlice:
		return t.EndpointSlice(o), nil
	case *corev1.Pod:
		return t.Pod(o), nil
	}
	return obj, nil
}

func (t *Transformer) meta(m *metav1.ObjectMeta) Meta {
	return Meta{Name: strings.Clone(m.Name), Namespace: t.intern(m.Namespace)}
}

// Service trims a Service.
func (t *Transformer) Service(s *corev1.Service) *Service {
	out := &Service{Meta: t.meta(&s.ObjectMeta), PublishNotReadyAddresses: s.Spec.PublishNotReadyAddresses}
	switch {
	case s.Spec.Type == corev1.ServiceTypeExternalName:
		out.ExternalName = strings.ToLower(s.Spec.ExternalName)
		if out.ExternalName != "" && !strings.HasSuffix(out.ExternalName, ".") {
			out.ExternalName += "."
		}
	case s.Spec.ClusterIP == corev1.ClusterIPNone:
		out.Headless = true
	default:
		ips := s.Spec.ClusterIPs
		if len(ips) == 0 && s.Spec.ClusterIP != "" {
			ips = []string{s.Spec.ClusterIP}
		}
		out.ClusterIPs = parseAddrs(ips)
	}
	for _, p := range s.Spec.Ports {
		if p.Name == "" {
			continue // only named ports have SRV records
		}
		out.Ports = append(out.Ports, Port{Name: t.intern(strings.ToLower(p.Name)), Protocol: protocol(p.Protocol), Port: p.Port})
	}
	return out
}

// EndpointSlice trims an EndpointSlice; endpoints without usable
// addresses are dropped.
func (t *Transformer) EndpointSlice(s *discoveryv1.EndpointSlice) *EndpointSlice {
	out := &EndpointSlice{Meta: t.meta(&s.ObjectMeta), Service: strings.Clone(s.Labels[discoveryv1.LabelServiceName])}
	for _, p := range s.Ports {
		if p.Name == nil || *p.Name == "" || p.Port == nil {
			continue
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out.Ports = append(out.Ports, Port{Name: t.intern(strings.ToLower(*p.Name)), Protocol: protocol(proto), Port: *p.Port})
	}
	if s.AddressType == discoveryv1.AddressTypeFQDN {
		return out
	}
	for _, e := range s.Endpoints {
		addrs := parseAddrs(e.Addresses)
		if len(addrs) == 0 {
			continue
		}
		ep := Endpoint{Addrs: addrs, Ready: e.Conditions.Ready == nil || *e.Conditions.Ready}
		if e.Hostname != nil {
			ep.Hostname = strings.Clone(strings.ToLower(*e.Hostname))
		}
		out.Endpoints = append(out.Endpoints, ep)
	}
	return out
}

// Pod trims a Pod to its IPs and whether it finished.
func (t *Transformer) Pod(p *corev1.Pod) *Pod {
	out := &Pod{Meta: t.meta(&p.ObjectMeta), Finished: p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed}
	ips := make([]string, 0, 2)
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = append(ips, p.Status.PodIP)
	}
	out.IPs = parseAddrs(ips)
	return out
}

func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			continue
		}
		out = append(out, a.Unmap())
	}
	return out
}

// protocol is p in lower case; the usual three without an allocation each.
func protocol(p corev1.Protocol) string {
	switch p {
	case "", corev1.ProtocolTCP:
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return strings.ToLower(string(p))
}

// List is a list of compact objects, as the paging lister returns it to a
// reflector (which extracts Items and reads the resource version).
type List struct {
	metav1.ListMeta
	Items []runtime.Object
}

// GetObjectKind satisfies runtime.Object; compact lists carry no kind.
func (l *List) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject satisfies runtime.Object; lists are never mutated.
func (l *List) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = slices.Clone(l.Items)
	return &c
}
