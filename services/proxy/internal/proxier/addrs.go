package proxier

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var everything = labels.Everything()

// nodePortIPs lists the namespace's addresses inside cidrs (nil when no
// cidrs: NodePorts then answer on every local address).
func nodePortIPs(nsFd int, fam corev1.IPFamily, cidrs []netip.Prefix) ([]netip.Addr, error) {
	if len(cidrs) == 0 {
		return nil, nil
	}
	var h *netlink.Handle
	var err error
	if nsFd > 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(nsFd), unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("proxier: netlink: %w", err)
	}
	defer h.Close()
	f := netlink.FAMILY_V4
	if fam == corev1.IPv6Protocol {
		f = netlink.FAMILY_V6
	}
	addrs, err := h.AddrList(nil, f)
	if err != nil {
		return nil, fmt.Errorf("proxier: addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.IsLoopback() {
			continue
		}
		ip = ip.Unmap()
		for _, c := range cidrs {
			if c.Contains(ip) {
				out = append(out, ip)
				break
			}
		}
	}
	return out, nil
}
