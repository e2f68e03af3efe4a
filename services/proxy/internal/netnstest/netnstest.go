// Package netnstest builds throw-away network namespaces for kernel tests:
// a "node" namespace where the proxy programs nftables, a client namespace
// and backend namespaces running real TCP/UDP servers that answer with
// their own name, all joined to the node by veth pairs. Everything is
// removed when the test ends.
package netnstest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is an unnamed network namespace.
type NS struct {
	Handle netns.NsHandle
}

// Fd is the namespace file descriptor (for nftables.WithNetNSFd).
func (n *NS) Fd() int { return int(n.Handle) }

// New creates a namespace with loopback up, closed when the test ends.
func New(tb testing.TB) *NS {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("kernel tests need root (they create network namespaces)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.New()
	if err != nil {
		tb.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		tb.Fatal(err)
	}
	n := &NS{Handle: h}
	tb.Cleanup(func() { h.Close() })
	if err := n.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Do runs fn on a thread switched into the namespace. Sockets created in
// fn stay in the namespace after it returns.
func (n *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.Handle); err != nil {
		return err
	}
	defer func() { _ = netns.Set(orig) }()
	return fn()
}

// Sysctl writes a /proc/sys value inside the namespace.
func (n *NS) Sysctl(key, value string) error {
	return n.Do(func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
}

var linkSeq atomic.Int64

// Link joins a and b by a veth pair: a gets aAddr, b gets bAddr (both
// prefixes), both ends up. It returns the link name in a and in b.
func Link(tb testing.TB, a *NS, aAddr string, b *NS, bAddr string) (string, string) {
	tb.Helper()
	id := linkSeq.Add(1)
	an, bn := fmt.Sprintf("dva%d", id), fmt.Sprintf("dvb%d", id)
	err := a.Do(func() error {
		la := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: an}, PeerName: bn, PeerNamespace: netlink.NsFd(b.Handle)}
		if err := netlink.LinkAdd(la); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		return up(an, aAddr)
	})
	if err == nil {
		err = b.Do(func() error { return up(bn, bAddr) })
	}
	if err == nil {
		err = a.Do(func() error { return waitOperUp(an) })
	}
	if err == nil {
		err = b.Do(func() error { return waitOperUp(bn) })
	}
	if err != nil {
		tb.Fatal(err)
	}
	return an, bn
}

// waitOperUp waits until the kernel has seen the link's carrier: until
// then (linkwatch runs up to a second late) the link drops what is sent,
// and a test's first packet would wait for a retransmission.
func waitOperUp(name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s: operational state %s, want up", name, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func up(name, addr string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(addr)
	if err != nil {
		return err
	}
	// No DAD delay for IPv6 addresses.
	a.Flags |= 0x80 // IFA_F_NODAD
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("addr %s: %w", addr, err)
	}
	return netlink.LinkSetUp(l)
}

// DefaultRoute routes everything in n via gw.
func (n *NS) DefaultRoute(tb testing.TB, gw string) {
	tb.Helper()
	if err := n.Do(func() error {
		g := net.ParseIP(gw)
		dst := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
		if g.To4() == nil {
			dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		}
		return netlink.RouteAdd(&netlink.Route{Dst: dst, Gw: g})
	}); err != nil {
		tb.Fatal(err)
	}
}

// Serve starts a TCP and a UDP server in n on port that answer every
// connection or datagram with name. They stop when the test ends.
func (n *NS) Serve(tb testing.TB, name string, port int) {
	tb.Helper()
	var tl net.Listener
	var ul net.PacketConn
	err := n.Do(func() error {
		var err error
		if tl, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		ul, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tl.Close(); ul.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
			}()
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = ul.WriteTo([]byte(name+" "+from.String()+"\n"), from)
		}
	}()
}

// ErrRefused is returned by Ask when the connection was refused.
var ErrRefused = errors.New("netnstest: connection refused")

// Ask dials addr ("tcp" or "udp") from n and returns the answering
// server's name and the client address it saw.
func (n *NS) Ask(network, addr string, timeout time.Duration) (name, seenFrom string, err error) {
	return n.AskFrom(network, "", addr, timeout)
}

// AskFrom is Ask with the client bound to a local address (to try sources
// inside and outside the cluster CIDR); "" lets the kernel choose.
func (n *NS) AskFrom(network, local, addr string, timeout time.Duration) (string, string, error) {
	var c net.Conn
	err := n.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		if local != "" {
			la := netip.MustParseAddr(local)
			if network == "udp" {
				d.LocalAddr = &net.UDPAddr{IP: la.AsSlice()}
			} else {
				d.LocalAddr = &net.TCPAddr{IP: la.AsSlice()}
			}
		}
		var err error
		c, err = d.Dial(network, addr)
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "refused") {
			return "", "", ErrRefused
		}
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if network == "udp" {
		if _, err := c.Write([]byte("hi")); err != nil {
			return "", "", err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if strings.Contains(err.Error(), "refused") {
			return "", "", ErrRefused
		}
		return "", "", err
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return "", "", fmt.Errorf("netnstest: answer %q", line)
	}
	return f[0], f[1], nil
}

// Cluster is a node namespace with a client and n backends on veths.
type Cluster struct {
	Node, Client *NS
	// ClientIP is the client's address (inside the cluster CIDR 10.244.0.0/16).
	ClientIP string
	// NodeIP is the node's address on the client link.
	NodeIP   string
	Backends []*NS
	// BackendIPs[i] is backend i's address; its server answers "backend-i".
	BackendIPs []string
}

// NewCluster builds the topology; backends serve on port.
func NewCluster(tb testing.TB, backends, port int) *Cluster {
	tb.Helper()
	c := &Cluster{Node: New(tb), Client: New(tb), ClientIP: "10.244.200.2", NodeIP: "10.244.200.1"}
	if err := c.Node.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		tb.Fatal(err)
	}
	Link(tb, c.Node, c.NodeIP+"/24", c.Client, c.ClientIP+"/24")
	// A second client address outside the cluster CIDR.
	if err := c.Client.Do(func() error {
		l, err := netlink.LinkByIndex(linkIndex(c.Client))
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("192.0.2.2/24")
		return netlink.AddrAdd(l, a)
	}); err != nil {
		tb.Fatal(err)
	}
	c.Client.DefaultRoute(tb, c.NodeIP)
	// The node routes everything else (e.g. the service CIDR) upstream, as a
	// real node has a default route.
	Link(tb, c.Node, "172.31.255.1/30", New(tb), "172.31.255.2/30")
	c.Node.DefaultRoute(tb, "172.31.255.2")
	for i := 0; i < backends; i++ {
		b := New(tb)
		ip := fmt.Sprintf("10.244.%d.2", 10+i)
		Link(tb, c.Node, fmt.Sprintf("10.244.%d.1/24", 10+i), b, ip+"/24")
		b.DefaultRoute(tb, fmt.Sprintf("10.244.%d.1", 10+i))
		b.Serve(tb, fmt.Sprintf("backend-%d", i), port)
		c.Backends = append(c.Backends, b)
		c.BackendIPs = append(c.BackendIPs, ip)
	}
	// Replies to the off-cluster client address go back over the client link.
	if err := c.Node.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.ParseIP("192.0.2.2"), Mask: net.CIDRMask(32, 32)}, Gw: net.ParseIP(c.ClientIP)})
	}); err != nil {
		tb.Fatal(err)
	}
	return c
}

// linkIndex finds the first non-loopback link in n.
func linkIndex(n *NS) int {
	idx := 0
	_ = n.Do(func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				idx = l.Attrs().Index
				break
			}
		}
		return nil
	})
	return idx
}
