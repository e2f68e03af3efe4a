package network

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"drover.dev/kubelet/internal/nsfs"
	"drover.dev/kubelet/internal/nsfs/nsfstest"
)

// The tests run in a network namespace of their own: the "node".
func TestMain(m *testing.M) {
	if code, done := nsfstest.Reexec(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestIPAM(t *testing.T) {
	dir := t.TempDir()
	_, cidr, _ := net.ParseCIDR("10.77.0.0/29")
	a, err := newIPAM(dir, cidr)
	if err != nil {
		t.Fatal(err)
	}
	// A /29 has .0 (network), .1 (node side), .2-.6, .7 (broadcast).
	got := map[string]string{}
	for _, pod := range []string{"a", "b", "c", "d", "e"} {
		ip, err := a.allocate(pod)
		if err != nil {
			t.Fatalf("allocate %s: %v", pod, err)
		}
		if prev, dup := got[ip.String()]; dup {
			t.Fatalf("%s handed to %s and %s", ip, prev, pod)
		}
		got[ip.String()] = pod
	}
	for _, reserved := range []string{"10.77.0.0", "10.77.0.1", "10.77.0.7"} {
		if _, ok := got[reserved]; ok {
			t.Fatalf("reserved address %s handed out", reserved)
		}
	}
	if _, err := a.allocate("f"); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("allocate on a full range: %v, want ErrNoAddress", err)
	}
	// Same pod, same address — also through a new instance (restart).
	a2, err := newIPAM(dir, cidr)
	if err != nil {
		t.Fatal(err)
	}
	ipC, err := a2.allocate("c")
	if err != nil || got[ipC.String()] != "c" {
		t.Fatalf("re-allocate c = %v, %v", ipC, err)
	}
	if err := a2.release("c"); err != nil {
		t.Fatal(err)
	}
	if err := a2.release("c"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	ipF, err := a2.allocate("f")
	if err != nil || !ipF.Equal(ipC) {
		t.Fatalf("after release got %v, %v; want %v", ipF, err, ipC)
	}
	for _, bad := range []string{"", "../x", "a\nb"} {
		if _, err := a2.allocate(bad); err == nil {
			t.Fatalf("allocate(%q) succeeded", bad)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no cidr", Config{StateDir: t.TempDir()}},
		{"garbage cidr", Config{PodCIDR: "10.1.2.3", StateDir: t.TempDir()}},
		{"ipv6", Config{PodCIDR: "fd00::/64", StateDir: t.TempDir()}},
		{"tiny", Config{PodCIDR: "10.1.2.0/30", StateDir: t.TempDir()}},
		{"no state dir", Config{PodCIDR: "10.1.2.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

// nodeAddress gives the test's "node" (its own netns) a global address, as
// a node has on its uplink (on lo: this kernel has no dummy links).
func nodeAddress(t *testing.T) net.IP {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	nodeIP := net.IPv4(192, 0, 2, 10).To4() // TEST-NET-1
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: nodeIP, Mask: net.CIDRMask(32, 32)}}
	if err := netlink.AddrAdd(lo, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.AddrDel(lo, addr) })
	return nodeIP
}

// newPodNS makes a pod network namespace held by a bind mount.
func newPodNS(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netns")
	if err := nsfs.Create(map[nsfs.Kind]string{nsfs.Net: p}, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsfs.Remove(p); err != nil {
			t.Error(err)
		}
	})
	return p
}

// serve answers one line on ip:port from inside the namespace at nsPath.
func serve(t *testing.T, nsPath string, ip net.IP) string {
	t.Helper()
	var ln net.Listener
	listen := func() error {
		var err error
		// A socket belongs to the namespace it was made in.
		ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), "0"))
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = nsfs.Do(nsPath, listen)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from " + ip.String() + "\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// fetch connects to addr from the namespace at nsPath ("" = the node).
func fetch(nsPath, addr string) (string, error) {
	var out string
	get := func() error {
		c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	}
	var err error
	if nsPath == "" {
		err = get()
	} else {
		err = nsfs.Do(nsPath, get)
	}
	return out, err
}

func TestSetupTeardown(t *testing.T) {
	n, err := New(Config{PodCIDR: "10.77.1.0/24", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nsA, nsB := newPodNS(t), newPodNS(t)
	ipA, err := n.Setup(ctx, nsA, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	ipB, err := n.Setup(ctx, nsB, "pod-b")
	if err != nil {
		t.Fatal(err)
	}
	if ipA.Equal(ipB) || !n.PodCIDR().Contains(ipA) || !n.PodCIDR().Contains(ipB) {
		t.Fatalf("addresses %v, %v", ipA, ipB)
	}
	// Idempotent: same address, nothing duplicated.
	again, err := n.Setup(ctx, nsA, "pod-a")
	if err != nil || !again.Equal(ipA) {
		t.Fatalf("second setup = %v, %v; want %v", again, err, ipA)
	}

	// The pod side looks like a Calico pod.
	h, err := netns.GetFromPath(nsA)
	if err != nil {
		t.Fatal(err)
	}
	podH, err := netlink.NewHandleAt(h)
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer podH.Close()
	eth, err := podH.LinkByName(PodInterface)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := podH.AddrList(eth, netlink.FAMILY_V4)
	if len(addrs) != 1 || !addrs[0].IP.Equal(ipA) {
		t.Fatalf("pod addresses %v", addrs)
	}
	routes, _ := podH.RouteList(eth, netlink.FAMILY_V4)
	var hasDefault bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.Equal(GatewayIP) {
			hasDefault = true
		}
	}
	if !hasDefault {
		t.Fatalf("no default route via %s: %v", GatewayIP, routes)
	}

	// Node → pod, pod → pod (both ways), pod → node.
	nodeIP := nodeAddress(t)
	addrB := serve(t, nsB, ipB)
	addrA := serve(t, nsA, ipA)
	if out, err := fetch("", addrB); err != nil || out != "hello from "+ipB.String()+"\n" {
		t.Fatalf("node → pod B: %q, %v", out, err)
	}
	if out, err := fetch(nsA, addrB); err != nil || out != "hello from "+ipB.String()+"\n" {
		t.Fatalf("pod A → pod B: %q, %v", out, err)
	}
	if out, err := fetch(nsB, addrA); err != nil || out != "hello from "+ipA.String()+"\n" {
		t.Fatalf("pod B → pod A: %q, %v", out, err)
	}
	addrNode := serve(t, "", nodeIP)
	if out, err := fetch(nsA, addrNode); err != nil || out != "hello from "+nodeIP.String()+"\n" {
		t.Fatalf("pod A → node: %q, %v", out, err)
	}

	// Teardown removes the veth and route and frees the address; twice is fine.
	for range 2 {
		if err := n.Teardown(ctx, nsA, "pod-a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := netlink.LinkByName(HostVethName("pod-a")); err == nil {
		t.Fatal("host veth still there")
	}
	if _, err := podH.LinkByName(PodInterface); err == nil {
		t.Fatal("pod eth0 still there")
	}
	rs, err := netlink.RouteGet(ipA)
	if err == nil && len(rs) > 0 && rs[0].LinkIndex != 0 {
		if l, lerr := netlink.LinkByIndex(rs[0].LinkIndex); lerr == nil && l.Attrs().Name == HostVethName("pod-a") {
			t.Fatalf("route to %s still via the pod veth", ipA)
		}
	}
	if ip, _ := n.ipam.find("pod-a"); ip != nil {
		t.Fatalf("address %s still allocated", ip)
	}
	// Re-setup after teardown works (a restarted sandbox).
	if _, err := n.Setup(ctx, nsA, "pod-a"); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"pod-a", "pod-b"} {
		if err := n.Teardown(ctx, "", pod); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSetupRepairsMissingPodSide(t *testing.T) {
	n, err := New(Config{PodCIDR: "10.77.2.0/24", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := newPodNS(t)
	ip, err := n.Setup(ctx, ns, "pod-r")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Teardown(ctx, ns, "pod-r")
	// The namespace is replaced (e.g. a sandbox recreated): the old pair
	// died with it; setup must build a new one with the same address.
	if err := nsfs.Remove(ns); err != nil {
		t.Fatal(err)
	}
	if err := nsfs.Create(map[nsfs.Kind]string{nsfs.Net: ns}, ""); err != nil {
		t.Fatal(err)
	}
	ip2, err := n.Setup(ctx, ns, "pod-r")
	if err != nil || !ip2.Equal(ip) {
		t.Fatalf("setup in new netns = %v, %v; want %v", ip2, err, ip)
	}
	nodeAddress(t)
	addr := serve(t, ns, ip)
	if _, err := fetch("", addr); err != nil {
		t.Fatalf("node → repaired pod: %v", err)
	}
}
