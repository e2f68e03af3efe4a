package model

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var cfg = Config{
	Family:       corev1.IPv4Protocol,
	NodeName:     "node-a",
	ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
}

func svc(mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"},
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	if mut != nil {
		mut(s)
	}
	return s
}

type ep struct {
	ip, node                    string
	ready, serving, terminating bool
}

func slice(port int32, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{e.ip},
			NodeName:  ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(e.ready), Serving: ptr.To(e.serving), Terminating: ptr.To(e.terminating),
			},
		})
	}
	return sl
}

func ready(ip, node string) ep { return ep{ip: ip, node: node, ready: true, serving: true} }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

const (
	svcChain = "svc-ns/web/tcp/http"
	locChain = "local-ns/web/tcp/http"
	extChain = "ext-ns/web/tcp/http"
)

var clusterKey = Key{IP: netip.MustParseAddr("10.96.0.10"), Proto: corev1.ProtocolTCP, Port: 80}

func TestBuild(t *testing.T) {
	reject := Verdict{Kind: Goto, Chain: RejectChain}
	pod := cfg.ClusterCIDRs[0]
	tests := []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   *Service
	}{
		{
			name:   "clusterIP with two ready endpoints, one of them local (hairpin)",
			svc:    svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"), ready("10.244.0.2", "node-a"))},
			want: &Service{
				Chains:     []Chain{{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 2}}}},
				Groups:     []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.0.2:8080"), ap("10.244.1.3:8080")}}},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: svcChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Hairpins:   []Hairpin{{IP: netip.MustParseAddr("10.244.0.2"), Proto: corev1.ProtocolTCP, Port: 8080}},
				Endpoints:  2,
			},
		},
		{
			name:   "no endpoints rejects",
			svc:    svc(nil),
			slices: nil,
			want: &Service{
				NoEndpoints: map[Key]Verdict{clusterKey: reject},
				ClusterIPs:  []netip.Addr{clusterKey.IP},
			},
		},
		{
			name:   "not-ready endpoints count as none",
			svc:    svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ep{ip: "10.244.1.3", node: "node-b"})},
			want: &Service{
				NoEndpoints: map[Key]Verdict{clusterKey: reject},
				ClusterIPs:  []netip.Addr{clusterKey.IP},
			},
		},
		{
			name: "terminating endpoints only when nothing is ready",
			svc:  svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice(8080,
				ep{ip: "10.244.1.3", node: "node-b", serving: true, terminating: true},
				ep{ip: "10.244.1.4", node: "node-b", serving: false, terminating: true})},
			want: &Service{
				Chains:     []Chain{{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 1}}}},
				Groups:     []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.1.3:8080")}}},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: svcChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Endpoints:  1,
			},
		},
		{
			name: "terminating ignored when one is ready",
			svc:  svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice(8080,
				ep{ip: "10.244.1.3", node: "node-b", serving: true, terminating: true},
				ready("10.244.1.5", "node-b"))},
			want: &Service{
				Chains:     []Chain{{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 1}}}},
				Groups:     []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.1.5:8080")}}},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: svcChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Endpoints:  1,
			},
		},
		{
			name: "named target port resolved per slice",
			svc:  svc(nil),
			slices: []*discoveryv1.EndpointSlice{
				slice(8080, ready("10.244.1.3", "node-b")),
				slice(9090, ready("10.244.2.3", "node-c")),
			},
			want: &Service{
				Chains:     []Chain{{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 2}}}},
				Groups:     []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.1.3:8080"), ap("10.244.2.3:9090")}}},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: svcChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Endpoints:  2,
			},
		},
		{
			name: "sessionAffinity ClientIP uses endpoint chains and timed sets",
			svc: svc(func(s *corev1.Service) {
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"))},
			want: &Service{
				Chains: []Chain{
					{Name: svcChain, Rules: []Rule{
						{SaddrInSet: "affinity-60-ns/web/tcp/http__10.244.1.3:8080", Goto: "ep-ns/web/tcp/http__10.244.1.3:8080"},
						{Pick: svcChain, PickOf: 1},
					}},
					{Name: "ep-ns/web/tcp/http__10.244.1.3:8080", Rules: []Rule{
						{UpdateSet: "affinity-60-ns/web/tcp/http__10.244.1.3:8080"},
						{DNAT: ap("10.244.1.3:8080")},
					}},
				},
				Groups:       []Group{{Name: svcChain, Chains: []string{"ep-ns/web/tcp/http__10.244.1.3:8080"}}},
				ServiceIPs:   map[Key]Verdict{clusterKey: {Chain: svcChain}},
				ClusterIPs:   []netip.Addr{clusterKey.IP},
				AffinitySets: []AffinitySet{{Name: "affinity-60-ns/web/tcp/http__10.244.1.3:8080", Timeout: time.Minute}},
				Endpoints:    1,
			},
		},
		{
			name: "NodePort and externalIP masquerade (externalTrafficPolicy Cluster)",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalIPs = []string{"192.0.2.7"}
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"))},
			want: &Service{
				Chains: []Chain{
					{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 1}}},
					{Name: extChain, Rules: []Rule{{MarkMasq: true}, {Goto: svcChain}}},
				},
				Groups: []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.1.3:8080")}}},
				ServiceIPs: map[Key]Verdict{
					clusterKey: {Chain: svcChain},
					{IP: netip.MustParseAddr("192.0.2.7"), Proto: corev1.ProtocolTCP, Port: 80}: {Chain: extChain},
				},
				NodePorts:  map[PortKey]Verdict{{Proto: corev1.ProtocolTCP, Port: 30080}: {Chain: extChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Endpoints:  1,
			},
		},
		{
			name: "externalTrafficPolicy Local keeps the client address and drops without local endpoints",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"))},
			want: &Service{
				Chains: []Chain{
					{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 1}}},
					{Name: extChain, Rules: []Rule{{SaddrIn: &pod, Goto: svcChain}, {FibSaddrLocal: true, MarkMasq: true}, {FibSaddrLocal: true, Goto: svcChain}}},
				},
				Groups:              []Group{{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.1.3:8080")}}},
				ServiceIPs:          map[Key]Verdict{clusterKey: {Chain: svcChain}},
				NodePorts:           map[PortKey]Verdict{{Proto: corev1.ProtocolTCP, Port: 30080}: {Chain: extChain}},
				NoEndpointNodePorts: map[PortKey]Verdict{{Proto: corev1.ProtocolTCP, Port: 30080}: {Kind: Drop}},
				ClusterIPs:          []netip.Addr{clusterKey.IP},
				Endpoints:           1,
			},
		},
		{
			name: "externalTrafficPolicy Local with a local endpoint",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.0.3", "node-a"), ready("10.244.1.3", "node-b"))},
			want: &Service{
				Chains: []Chain{
					{Name: svcChain, Rules: []Rule{{Pick: svcChain, PickOf: 2}}},
					{Name: locChain, Rules: []Rule{{Pick: locChain, PickOf: 1}}},
					{Name: extChain, Rules: []Rule{{SaddrIn: &pod, Goto: svcChain}, {FibSaddrLocal: true, MarkMasq: true}, {FibSaddrLocal: true, Goto: svcChain}, {Goto: locChain}}},
				},
				Groups: []Group{
					{Name: svcChain, Endpoints: []netip.AddrPort{ap("10.244.0.3:8080"), ap("10.244.1.3:8080")}},
					{Name: locChain, Endpoints: []netip.AddrPort{ap("10.244.0.3:8080")}},
				},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: svcChain}},
				NodePorts:  map[PortKey]Verdict{{Proto: corev1.ProtocolTCP, Port: 30080}: {Chain: extChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Hairpins:   []Hairpin{{IP: netip.MustParseAddr("10.244.0.3"), Proto: corev1.ProtocolTCP, Port: 8080}},
				Endpoints:  2,
			},
		},
		{
			name: "internalTrafficPolicy Local without local endpoints drops",
			svc: svc(func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"))},
			want: &Service{
				NoEndpoints: map[Key]Verdict{clusterKey: {Kind: Drop}},
				ClusterIPs:  []netip.Addr{clusterKey.IP},
				Endpoints:   1,
			},
		},
		{
			name: "internalTrafficPolicy Local with a local endpoint",
			svc: svc(func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"), ready("10.244.0.9", "node-a"))},
			want: &Service{
				Chains:     []Chain{{Name: locChain, Rules: []Rule{{Pick: locChain, PickOf: 1}}}},
				Groups:     []Group{{Name: locChain, Endpoints: []netip.AddrPort{ap("10.244.0.9:8080")}}},
				ServiceIPs: map[Key]Verdict{clusterKey: {Chain: locChain}},
				ClusterIPs: []netip.Addr{clusterKey.IP},
				Hairpins:   []Hairpin{{IP: netip.MustParseAddr("10.244.0.9"), Proto: corev1.ProtocolTCP, Port: 8080}},
				Endpoints:  2,
			},
		},
		{
			name: "headless contributes nothing",
			svc: svc(func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}),
			slices: []*discoveryv1.EndpointSlice{slice(8080, ready("10.244.1.3", "node-b"))},
			want:   &Service{},
		},
		{
			name: "IPv6-only service is not in the ip table",
			svc: svc(func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "fd00::10", []string{"fd00::10"}
			}),
			want: &Service{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(cfg, tt.svc, tt.slices)
			normalize(got)
			normalize(tt.want)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestBuildUDPConntrackInfo(t *testing.T) {
	s := svc(func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}}
	})
	sl := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To[int32](5353)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.3"}}},
	}
	got := Build(cfg, s, []*discoveryv1.EndpointSlice{sl})
	want := []UDPPort{{
		Keys:      []Key{{IP: netip.MustParseAddr("10.96.0.10"), Proto: corev1.ProtocolUDP, Port: 53}},
		Endpoints: []netip.Addr{netip.MustParseAddr("10.244.1.3")},
	}}
	if !reflect.DeepEqual(got.UDP, want) {
		t.Fatalf("got %+v, want %+v", got.UDP, want)
	}
}

func TestNamesFitTheKernelLimit(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	if n := name(servicePrefix, string(long)); len(n) != maxNameLen {
		t.Fatalf("len %d", len(n))
	}
	if !IsServiceChain(svcChain) || IsServiceChain(RejectChain) || !IsAffinitySet("affinity-x") {
		t.Fatal("name classification")
	}
}

// normalize makes nil and empty collections compare equal.
func normalize(s *Service) {
	if s.ServiceIPs == nil {
		s.ServiceIPs = map[Key]Verdict{}
	}
	if s.NodePorts == nil {
		s.NodePorts = map[PortKey]Verdict{}
	}
	if s.NoEndpoints == nil {
		s.NoEndpoints = map[Key]Verdict{}
	}
	if s.NoEndpointNodePorts == nil {
		s.NoEndpointNodePorts = map[PortKey]Verdict{}
	}
}
