package nodenet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testNetwork returns a network on a bridge of its own, in 198.18.0.0/15 (reserved
// for benchmarks, so never in use), which the test removes again.
func testNetwork(t *testing.T) *Network {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root: creates a bridge and network namespaces")
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b)
	n, err := New(Config{
		Bridge:    "drvt" + id[:4],
		Network:   netip.MustParsePrefix(fmt.Sprintf("198.18.%d.0/24", b[2])),
		ClusterID: "t" + id,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 1; i <= 3; i++ {
			if node, err := n.Node(i); err == nil {
				_ = n.TeardownNode(node)
			}
		}
		_ = n.TeardownBridge()
	})
	return n
}

// inNetNS runs fn on a thread in the namespace at path.
func inNetNS(t *testing.T, path string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(err) // the thread would stay in the wrong namespace
		}
	}()
	fn()
}

// serve listens on addr inside the namespace and answers every connection with
// msg; the listener closes with the test.
func serve(t *testing.T, path, addr, msg string) {
	t.Helper()
	var ln net.Listener
	inNetNS(t, path, func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, msg)
			c.Close()
		}
	}()
}

func read(addr string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestNodesReachEachOtherAndTheHost(t *testing.T) {
	n := testNetwork(t)
	for range 2 { // the second time repairs nothing and must not fail
		if err := n.EnsureBridge(); err != nil {
			t.Fatal(err)
		}
	}
	node1, err := n.Node(1)
	if err != nil {
		t.Fatal(err)
	}
	node2, err := n.Node(2)
	if err != nil {
		t.Fatal(err)
	}
	if node1.IP != n.HostIP().Next() || node2.IP != node1.IP.Next() {
		t.Fatalf("addresses host %s, node-1 %s, node-2 %s; want consecutive", n.HostIP(), node1.IP, node2.IP)
	}
	for _, node := range []Node{node1, node2, node1} {
		if err := n.EnsureNode(node); err != nil {
			t.Fatal(err)
		}
	}

	serve(t, node2.NetNS, net.JoinHostPort(node2.IP.String(), "7000"), "node-2")
	// The host reaches node-2 over the bridge.
	if got, err := read(net.JoinHostPort(node2.IP.String(), "7000")); err != nil || got != "node-2" {
		t.Errorf("host → node-2 = %q, %v", got, err)
	}
	// node-1 reaches node-2 and, by its default route, the host.
	hostLn, err := net.Listen("tcp", net.JoinHostPort(n.HostIP().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "host")
			c.Close()
		}
	}()
	inNetNS(t, node1.NetNS, func() {
		if got, err := read(net.JoinHostPort(node2.IP.String(), "7000")); err != nil || got != "node-2" {
			t.Errorf("node-1 → node-2 = %q, %v", got, err)
		}
		if got, err := read(hostLn.Addr().String()); err != nil || got != "host" {
			t.Errorf("node-1 → host = %q, %v", got, err)
		}
		// The node's loopback is up: the kubelet's pods and health use it.
		if _, err := net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Errorf("node-1 loopback: %v", err)
		}
	})

	// Tear down: nothing of the node or the bridge is left.
	for _, node := range []Node{node1, node2, node2} {
		if err := n.TeardownNode(node); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(node.NetNS); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists: %v", node.NetNS, err)
		}
		if _, err := netlink.LinkByName(node.hostVeth); err == nil {
			t.Errorf("veth %s still exists", node.hostVeth)
		}
	}
	for range 2 {
		if err := n.TeardownBridge(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := netlink.LinkByName(n.Bridge()); err == nil {
		t.Errorf("bridge %s still exists", n.Bridge())
	}
}

func TestSyncPodRoutes(t *testing.T) {
	n := testNetwork(t)
	if err := n.EnsureBridge(); err != nil {
		t.Fatal(err)
	}
	br, err := netlink.LinkByName(n.Bridge())
	if err != nil {
		t.Fatal(err)
	}
	node1, _ := n.Node(1)
	node2, _ := n.Node(2)
	owned := func() map[string]string {
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: br.Attrs().Index, Protocol: routeProtocol},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range routes {
			got[r.Dst.String()] = r.Gw.String()
		}
		return got
	}

	tests := []struct {
		name string
		want map[netip.Prefix]netip.Addr
		have map[string]string
	}{
		{name: "two nodes", want: map[netip.Prefix]netip.Addr{
			netip.MustParsePrefix("10.251.1.0/24"): node1.IP,
			netip.MustParsePrefix("10.251.2.0/24"): node2.IP,
		}, have: map[string]string{"10.251.1.0/24": node1.IP.String(), "10.251.2.0/24": node2.IP.String()}},
		{name: "a CIDR moves to another node, one goes", want: map[netip.Prefix]netip.Addr{
			netip.MustParsePrefix("10.251.1.0/24"): node2.IP,
		}, have: map[string]string{"10.251.1.0/24": node2.IP.String()}},
		{name: "gateway off the bridge is skipped", want: map[netip.Prefix]netip.Addr{
			netip.MustParsePrefix("10.251.3.0/24"): netip.MustParseAddr("192.0.2.77"),
		}, have: map[string]string{}},
		{name: "none", want: nil, have: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := n.SyncPodRoutes(tt.want); err != nil {
				t.Fatal(err)
			}
			got := owned()
			if fmt.Sprint(got) != fmt.Sprint(tt.have) {
				t.Errorf("routes = %v, want %v", got, tt.have)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{name: "bridge name too long", cfg: Config{Bridge: "abcdefghijklm", Network: netip.MustParsePrefix(DefaultNetwork), ClusterID: "x"}, want: ErrBadConfig},
		{name: "IPv6 network", cfg: Config{Bridge: DefaultBridge, Network: netip.MustParsePrefix("fd00::/64"), ClusterID: "x"}, want: ErrBadConfig},
		{name: "network too small", cfg: Config{Bridge: DefaultBridge, Network: netip.MustParsePrefix("10.0.0.0/30"), ClusterID: "x"}, want: ErrBadConfig},
		{name: "no cluster id", cfg: Config{Bridge: DefaultBridge, Network: netip.MustParsePrefix(DefaultNetwork)}, want: ErrBadConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("New = %v, want %v", err, tt.want)
			}
		})
	}

	n, err := New(Config{Bridge: DefaultBridge, Network: netip.MustParsePrefix("10.0.0.0/29"), ClusterID: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	// /29: host .1, nodes .2-.6, broadcast .7.
	if node, err := n.Node(5); err != nil || node.IP != netip.MustParseAddr("10.0.0.6") || node.NetNS != NetNSDir+"/drover-abc-node-5" {
		t.Errorf("Node(5) = %+v, %v", node, err)
	}
	for _, i := range []int{0, 6} {
		if _, err := n.Node(i); !errors.Is(err, ErrTooManyNodes) {
			t.Errorf("Node(%d) = %v, want ErrTooManyNodes", i, err)
		}
	}
	if ClusterID("/a") == ClusterID("/b") || len(ClusterID("/a")) != 6 {
		t.Errorf("ClusterID does not tell state dirs apart")
	}
}

// TestNATLetsNodesOut puts an "outside" network behind the host that has no route
// back to the nodes: a node reaches it only when the host masquerades.
func TestNATLetsNodesOut(t *testing.T) {
	n := testNetwork(t)
	if err := n.EnsureBridge(); err != nil {
		t.Fatal(err)
	}
	node, _ := n.Node(1)
	if err := n.EnsureNode(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.TeardownNAT() })

	// outside: a namespace on a veth pair, 203.0.113.1 on the host, .2 inside,
	// and no route to the node network.
	outsideNS := node.NetNS + "-outside"
	if err := ensureNetNS(outsideNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.TeardownNode(Node{NetNS: outsideNS, hostVeth: n.Bridge() + "o"}) })
	ns, err := netns.GetFromPath(outsideNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	hostSide := n.Bridge() + "o"
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostSide
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}); err != nil {
		t.Fatal(err)
	}
	host, _ := netlink.LinkByName(hostSide)
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(203, 0, 113, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth, _ := h.LinkByName("eth0")
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(203, 0, 113, 2), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		t.Fatal(err)
	}
	serve(t, outsideNS, "203.0.113.2:7001", "outside")

	dial := func() error {
		var err error
		inNetNS(t, node.NetNS, func() {
			c, derr := net.DialTimeout("tcp", "203.0.113.2:7001", 500*time.Millisecond)
			if derr != nil {
				err = derr
				return
			}
			c.Close()
		})
		return err
	}
	if err := dial(); err == nil {
		t.Fatal("the node reached the outside without NAT; the test proves nothing")
	}
	for range 2 {
		if err := n.EnsureNAT(netip.MustParsePrefix("10.251.0.0/16")); err != nil {
			t.Fatal(err)
		}
	}
	// A first SYN can be lost (the host resolving the outside's address):
	// TCP resends it after 1 s, past the dial's timeout, so dial again.
	var natErr error
	for range 10 {
		if natErr = dial(); natErr == nil {
			break
		}
	}
	if natErr != nil {
		t.Errorf("the node does not reach the outside through NAT: %v", natErr)
	}
	for range 2 {
		if err := n.TeardownNAT(); err != nil {
			t.Fatal(err)
		}
	}
	if err := dial(); err == nil {
		t.Error("the node still reaches the outside after TeardownNAT")
	}
}
