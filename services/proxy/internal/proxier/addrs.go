package proxier

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"drover.dev/proxy/internal/nft"
)

var everything = labels.Everything()

// nodePortAddrs says where NodePorts answer: with no cidrs, every local
// address (loopback only with localhost); with cidrs, exactly the
// namespace's addresses inside them, which may be none. A loopback address
// counts only when a CIDR names it (127.0.0.0/8) or localhost is set.
func nodePortAddrs(nsFd int, fam corev1.IPFamily, cidrs []netip.Prefix, localhost bool) (nft.NodePortAddrs, error) {
	v6 := fam == corev1.IPv6Protocol
	if len(cidrs) == 0 {
		// route_localnet exists for IPv4 only.
		return nft.NodePortAddrs{Localhost: localhost && !v6}, nil
	}
	out := nft.NodePortAddrs{Restricted: true}
	var h *netlink.Handle
	var err error
	if nsFd > 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(nsFd), unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return out, fmt.Errorf("proxier: netlink: %w", err)
	}
	defer h.Close()
	f := netlink.FAMILY_V4
	if v6 {
		f = netlink.FAMILY_V6
	}
	addrs, err := h.AddrList(nil, f)
	if err != nil {
		return out, fmt.Errorf("proxier: addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() && (v6 || !localhost && !named(cidrs, ip)) {
			continue
		}
		if ip.IsLoopback() || named(cidrs, ip) {
			out.IPs = append(out.IPs, ip)
		}
	}
	return out, nil
}

// named reports whether a CIDR contains ip; a loopback address needs a
// CIDR of loopback addresses (0.0.0.0/0 does not opt in to localhost).
func named(cidrs []netip.Prefix, ip netip.Addr) bool {
	for _, c := range cidrs {
		if c.Contains(ip) && (!ip.IsLoopback() || c.Addr().IsLoopback()) {
			return true
		}
	}
	return false
}

// setRouteLocalnet lets the namespace route 127.0.0.0/8 destinations off
// the host, which DNAT of 127.0.0.1:nodePort to a pod needs.
func setRouteLocalnet(nsFd int) error {
	write := func() error {
		return os.WriteFile("/proc/sys/net/ipv4/conf/all/route_localnet", []byte("1"), 0o644)
	}
	if nsFd <= 0 {
		return write()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(netns.NsHandle(nsFd)); err != nil {
		return err
	}
	defer func() { _ = netns.Set(orig) }()
	return write()
}
