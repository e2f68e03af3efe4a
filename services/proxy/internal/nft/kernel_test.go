package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"drover.dev/proxy/internal/model"
	"drover.dev/proxy/internal/netnstest"
)

const backendPort = 8080

var clusterCIDR = netip.MustParsePrefix("10.244.0.0/16")

func testService(name, ip string, nodePort int32, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []corev1.ServicePort{
				{Name: "tcp", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: nodePort},
				{Name: "udp", Protocol: corev1.ProtocolUDP, Port: 53},
			},
		},
	}
	if nodePort != 0 {
		s.Spec.Type = corev1.ServiceTypeNodePort
	}
	if mut != nil {
		mut(s)
	}
	return s
}

func testSlice(ips ...string) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](backendPort)},
			{Name: ptr.To("udp"), Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To[int32](backendPort)},
		},
	}
	for _, ip := range ips {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, NodeName: ptr.To("other")})
	}
	return sl
}

type harness struct {
	t  *testing.T
	c  *netnstest.Cluster
	s  *Syncer
	mc model.Config
}

func newHarness(t *testing.T, backends int) *harness {
	c := netnstest.NewCluster(t, backends, backendPort)
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: c.Node.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		if err := Cleanup(corev1.IPv4Protocol, c.Node.Fd()); err != nil {
			t.Error(err)
		}
	})
	return &harness{t: t, c: c, s: s, mc: model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}}
}

func (h *harness) sync(full bool, svcs map[*corev1.Service][]*discoveryv1.EndpointSlice) {
	h.t.Helper()
	m := map[string]*model.Service{}
	for svc, sl := range svcs {
		m[svc.Namespace+"/"+svc.Name] = model.Build(h.mc, svc, sl)
	}
	if err := h.s.Sync(m, full); err != nil {
		h.t.Fatal(err)
	}
}

// count asks n times and counts answers per backend.
func (h *harness) count(network, addr string, n int) map[string]int {
	h.t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		name, _, err := h.c.Client.Ask(network, addr, 2*time.Second)
		if err != nil {
			h.t.Fatalf("%s %s: %v", network, addr, err)
		}
		got[name]++
	}
	return got
}

func TestKernelDistributionAndNodePort(t *testing.T) {
	h := newHarness(t, 3)
	svc := testService("web", "10.96.0.10", 30080, nil)
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: {testSlice(h.c.BackendIPs...)}})

	for _, target := range []struct{ network, addr string }{
		{"tcp", "10.96.0.10:80"},
		{"udp", "10.96.0.10:53"},
		{"tcp", h.c.NodeIP + ":30080"},
	} {
		got := h.count(target.network, target.addr, 90)
		if len(got) != 3 {
			t.Fatalf("%v: answers %v, want all 3 backends", target, got)
		}
		for name, n := range got {
			// Equal weight: 30 expected each; 10 is far outside chance.
			if n < 10 {
				t.Fatalf("%v: %s answered only %d of 90 (%v)", target, name, n, got)
			}
		}
	}
	// Pod sources keep their address on a ClusterIP...
	if _, from, err := h.c.Client.Ask("tcp", "10.96.0.10:80", 2*time.Second); err != nil || !strings.HasPrefix(from, h.c.ClientIP+":") {
		t.Fatalf("cluster client seen as %s (%v), want %s", from, err, h.c.ClientIP)
	}
	// ...off-cluster sources are masqueraded to the node.
	if _, from, err := h.c.Client.AskFrom("tcp", "192.0.2.2", "10.96.0.10:80", 2*time.Second); err != nil || strings.HasPrefix(from, "192.0.2.2:") {
		t.Fatalf("off-cluster client seen as %s (%v), want masqueraded", from, err)
	}
	// NodePort with externalTrafficPolicy Cluster masquerades too.
	if _, from, err := h.c.Client.Ask("tcp", h.c.NodeIP+":30080", 2*time.Second); err != nil || strings.HasPrefix(from, h.c.ClientIP+":") {
		t.Fatalf("nodeport client seen as %s (%v), want masqueraded", from, err)
	}
	st := h.s.Stats()
	if st.Services != 1 || st.Elements == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestKernelRejectWithoutEndpoints(t *testing.T) {
	h := newHarness(t, 1)
	svc := testService("empty", "10.96.0.11", 30081, nil)
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: nil})
	for _, addr := range []string{"10.96.0.11:80", h.c.NodeIP + ":30081", "10.96.0.11:9999"} {
		start := time.Now()
		_, _, err := h.c.Client.Ask("tcp", addr, 3*time.Second)
		if !errors.Is(err, netnstest.ErrRefused) {
			t.Fatalf("%s: %v, want connection refused", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s: refused after %v, want at once", addr, d)
		}
	}
	// Endpoints appear (incremental sync): traffic flows.
	h.sync(false, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: {testSlice(h.c.BackendIPs[0])}})
	if name, _, err := h.c.Client.Ask("tcp", "10.96.0.11:80", 2*time.Second); err != nil || name != "backend-0" {
		t.Fatalf("after endpoints: %q %v", name, err)
	}
	// Endpoints gone again.
	h.sync(false, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: nil})
	// cluster-ips, two no-endpoint-services entries, one no-endpoint-nodeports entry.
	if st := h.s.Stats(); st.Elements != 4 || st.Chains != len(baseChains)+len(fixedChains) {
		t.Fatalf("after endpoints left: %+v", st)
	}
	if _, _, err := h.c.Client.Ask("tcp", "10.96.0.11:80", 2*time.Second); !errors.Is(err, netnstest.ErrRefused) {
		t.Fatalf("after endpoints left: %v, want refused", err)
	}
	if err := h.s.Sync(map[string]*model.Service{"default/empty": nil}, false); err != nil {
		t.Fatal(err)
	}
	if st := h.s.Stats(); st.Services != 0 || st.Elements != 0 {
		t.Fatalf("after delete: %+v", st)
	}
}

func TestKernelSessionAffinity(t *testing.T) {
	h := newHarness(t, 3)
	svc := testService("sticky", "10.96.0.12", 0, func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](30)}}
	})
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: {testSlice(h.c.BackendIPs...)}})
	got := h.count("tcp", "10.96.0.12:80", 20)
	if len(got) != 1 {
		t.Fatalf("affinity: answers from %v, want one backend", got)
	}
	// A periodic full resync keeps the affinity entries.
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: {testSlice(h.c.BackendIPs...)}})
	if d := h.s.LastDrift(); d != "" {
		t.Fatalf("resync found drift in an untouched table: %s", d)
	}
	again := h.count("tcp", "10.96.0.12:80", 10)
	for name := range got {
		if again[name] != 10 {
			t.Fatalf("affinity lost by resync: before %v, after %v", got, again)
		}
	}
}

func TestKernelHairpinAndExternalTrafficPolicyLocal(t *testing.T) {
	h := newHarness(t, 2)
	h.mc.NodeName = "node"
	sl := testSlice(h.c.BackendIPs...)
	sl.Endpoints[0].NodeName = ptr.To("node") // backend-0 is local
	svc := testService("local", "10.96.0.13", 30083, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: {sl}})
	// Off-cluster client on the NodePort: only the local endpoint, client address kept.
	for i := 0; i < 10; i++ {
		name, from, err := h.c.Client.AskFrom("tcp", "192.0.2.2", h.c.NodeIP+":30083", 2*time.Second)
		if err != nil || name != "backend-0" || !strings.HasPrefix(from, "192.0.2.2:") {
			t.Fatalf("etp local: %s seen as %s (%v)", name, from, err)
		}
	}
	// Hairpin: backend-0 reaching itself through the ClusterIP.
	for i := 0; i < 20; i++ {
		name, from, err := h.c.Backends[0].Ask("tcp", "10.96.0.13:80", 2*time.Second)
		if err != nil {
			t.Fatalf("hairpin: %v", err)
		}
		if name == "backend-0" && strings.HasPrefix(from, h.c.BackendIPs[0]+":") {
			t.Fatalf("hairpin not masqueraded: seen as %s", from)
		}
	}
}

func TestCleanupLeavesNoTable(t *testing.T) {
	h := newHarness(t, 1)
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{testService("x", "10.96.0.14", 0, nil): {testSlice(h.c.BackendIPs...)}})
	if ok, err := TableExists(corev1.IPv4Protocol, h.c.Node.Fd()); err != nil || !ok {
		t.Fatalf("table exists %v %v", ok, err)
	}
	if err := Cleanup(corev1.IPv4Protocol, h.c.Node.Fd()); err != nil {
		t.Fatal(err)
	}
	if ok, err := TableExists(corev1.IPv4Protocol, h.c.Node.Fd()); err != nil || ok {
		t.Fatalf("table still there: %v %v", ok, err)
	}
	// And the host namespace never had one.
	if ok, _ := TableExists(corev1.IPv4Protocol, 0); ok {
		t.Log("note: the host namespace has a drover table (another proxy?)")
	}
	_ = fmt.Sprint()
}
