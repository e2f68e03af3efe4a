package nft

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"drover.dev/proxy/internal/conntrack"
	"drover.dev/proxy/internal/model"
	"drover.dev/proxy/internal/netnstest"
)

// TestKernelUDPConntrackFlushOnEndpointChange: a UDP client keeps one
// source port towards a ClusterIP. When its endpoint leaves the Service
// (the server still runs, so a stale conntrack entry would keep answering
// from it), the flush sends the next datagram to the new endpoint.
func TestKernelUDPConntrackFlushOnEndpointChange(t *testing.T) {
	h := newHarness(t, 2)
	ct, err := conntrack.New(h.c.Node.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	svc := testService("dns", "10.96.0.20", 0, nil)
	build := func(ips ...string) *model.Service {
		return model.Build(h.mc, svc, []*discoveryv1.EndpointSlice{testSlice(ips...)})
	}
	before := build(h.c.BackendIPs[0])
	if err := h.s.Sync(map[string]*model.Service{"default/dns": before}, true); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if err := h.c.Client.Do(func() error {
		var err error
		conn, err = net.Dial("udp", "10.96.0.20:53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func() (string, error) {
		if _, err := conn.Write([]byte("hi")); err != nil {
			return "", err
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 128)
		n, err := conn.Read(buf)
		if err != nil {
			return "", err
		}
		return strings.Fields(string(buf[:n]))[0], nil
	}
	for i := 0; i < 3; i++ {
		if name, err := ask(); err != nil || name != "backend-0" {
			t.Fatalf("before: %q %v", name, err)
		}
	}

	after := build(h.c.BackendIPs[1])
	if err := h.s.Sync(map[string]*model.Service{"default/dns": after}, false); err != nil {
		t.Fatal(err)
	}
	// Without the flush the entry still leads to backend-0.
	if name, err := ask(); err != nil || name != "backend-0" {
		t.Fatalf("before the flush the conntrack entry should still answer from backend-0: %q %v", name, err)
	}
	n, err := ct.Delete(false, conntrack.Stale(before, after))
	if err != nil || n == 0 {
		t.Fatalf("flush deleted %d entries: %v", n, err)
	}
	start := time.Now()
	name, err := ask()
	if err != nil || name != "backend-1" {
		t.Fatalf("after the flush: %q %v, want backend-1", name, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("new endpoint answered after %v", d)
	}
}

// TestKernelNodePortLocalhost: with the localhost opt-in the node's own
// clients reach a NodePort on 127.0.0.1 (route_localnet set as the proxier
// does); without it, 127.0.0.1 is not a NodePort address.
func TestKernelNodePortLocalhost(t *testing.T) {
	c := netnstest.NewCluster(t, 1, backendPort)
	if err := c.Node.Sysctl("net.ipv4.conf.all.route_localnet", "1"); err != nil {
		t.Fatal(err)
	}
	mc := model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}
	svc := testService("np", "10.96.0.21", 30090, nil)
	m := map[string]*model.Service{"default/np": model.Build(mc, svc, []*discoveryv1.EndpointSlice{testSlice(c.BackendIPs...)})}
	for _, tt := range []struct {
		name      string
		np        NodePortAddrs
		localhost bool
		nodeIP    bool
	}{
		{"default: every address but loopback", NodePortAddrs{}, false, true},
		{"localhost opt-in", NodePortAddrs{Localhost: true}, true, true},
		{"restricted to loopback", NodePortAddrs{Restricted: true, IPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, true, false},
		{"restricted, matching no address: nowhere", NodePortAddrs{Restricted: true}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: c.Node.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}, NodePorts: tt.np})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close(); _ = Cleanup(corev1.IPv4Protocol, c.Node.Fd()) }()
			if err := s.Sync(m, true); err != nil {
				t.Fatal(err)
			}
			check := func(ns *netnstest.NS, addr string, want bool) {
				t.Helper()
				name, _, err := ns.Ask("tcp", addr, time.Second)
				switch {
				case want && (err != nil || name != "backend-0"):
					t.Fatalf("%s: %q %v, want backend-0", addr, name, err)
				case !want && !errors.Is(err, netnstest.ErrRefused):
					// Nothing listens on the node itself: not a NodePort means refused.
					t.Fatalf("%s: %q %v, want refused (not a NodePort address)", addr, name, err)
				}
			}
			check(c.Node, "127.0.0.1:30090", tt.localhost)
			check(c.Client, c.NodeIP+":30090", tt.nodeIP)
		})
	}
}

// TestKernelSharedServiceIP: two Services claim the same IP/proto/port;
// deleting either leaves the other's entry in place.
func TestKernelSharedServiceIP(t *testing.T) {
	h := newHarness(t, 2)
	a := testService("a", "10.96.0.22", 0, nil)
	b := testService("b", "10.96.0.22", 0, nil)
	ma := model.Build(h.mc, a, []*discoveryv1.EndpointSlice{testSlice(h.c.BackendIPs[0])})
	mb := model.Build(h.mc, b, []*discoveryv1.EndpointSlice{testSlice(h.c.BackendIPs[1])})
	if err := h.s.Sync(map[string]*model.Service{"default/a": ma, "default/b": mb}, true); err != nil {
		t.Fatal(err)
	}
	// The first by name wins.
	if got := h.count("tcp", "10.96.0.22:80", 5); got["backend-0"] != 5 {
		t.Fatalf("both claim the address: %v, want default/a's backend-0", got)
	}
	if err := h.s.Sync(map[string]*model.Service{"default/a": nil}, false); err != nil {
		t.Fatal(err)
	}
	if got := h.count("tcp", "10.96.0.22:80", 5); got["backend-1"] != 5 {
		t.Fatalf("after deleting a: %v, want default/b's backend-1", got)
	}
	if err := h.s.Sync(map[string]*model.Service{"default/a": ma}, false); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Sync(map[string]*model.Service{"default/b": nil}, false); err != nil {
		t.Fatal(err)
	}
	if got := h.count("tcp", "10.96.0.22:80", 5); got["backend-0"] != 5 {
		t.Fatalf("after deleting b: %v, want default/a's backend-0", got)
	}
	// A periodic resync agrees with the kernel.
	if err := h.s.Sync(map[string]*model.Service{"default/a": ma}, true); err != nil || h.s.LastDrift() != "" {
		t.Fatalf("resync: %v, drift %q", err, h.s.LastDrift())
	}
}

// TestKernelResyncRepairsDrift: a map element removed behind our back is
// noticed by the next full sync, which rewrites the table.
func TestKernelResyncRepairsDrift(t *testing.T) {
	h := newHarness(t, 1)
	svc := testService("d", "10.96.0.23", 0, nil)
	sl := []*discoveryv1.EndpointSlice{testSlice(h.c.BackendIPs...)}
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: sl})
	set := h.s.sets[model.ServiceIPsMap]
	elems, err := h.s.conn.GetSetElements(set)
	if err != nil || len(elems) == 0 {
		t.Fatalf("elements %v %v", elems, err)
	}
	if err := h.s.conn.SetDeleteElements(set, elems[:1]); err != nil {
		t.Fatal(err)
	}
	if err := h.s.conn.Flush(); err != nil {
		t.Fatal(err)
	}
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: sl})
	if h.s.LastDrift() == "" {
		t.Fatal("resync did not notice the missing element")
	}
	for _, addr := range []string{"10.96.0.23:80", "10.96.0.23:53"} {
		network := "tcp"
		if strings.HasSuffix(addr, ":53") {
			network = "udp"
		}
		if name, _, err := h.c.Client.Ask(network, addr, 2*time.Second); err != nil || name != "backend-0" {
			t.Fatalf("%s after repair: %q %v", addr, name, err)
		}
	}
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{svc: sl})
	if d := h.s.LastDrift(); d != "" {
		t.Fatalf("drift after repair: %s", d)
	}
}
