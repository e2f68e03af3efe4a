package nodenet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// routeProtocol marks the host routes this package owns, so a sync removes
// its own stale routes and never anyone else's.
const routeProtocol netlink.RouteProtocol = 0xd7

// SyncPodRoutes makes the host's routes to pod CIDRs through the bridge be
// exactly want: pod CIDR → the InternalIP of the node that has it. The host
// then reaches every pod, as a machine in the datacentre would with
// host-gw routes. Gateways outside the bridge's network are skipped.
func (n *Network) SyncPodRoutes(want map[netip.Prefix]netip.Addr) error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("nodenet: bridge %s: %w", n.cfg.Bridge, err)
	}
	have, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: br.Attrs().Index, Protocol: routeProtocol},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("nodenet: list routes: %w", err)
	}
	for _, r := range have {
		dst, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		gw, _ := netip.AddrFromSlice(r.Gw)
		if want[netip.PrefixFrom(dst.Unmap(), ones)] == gw.Unmap() {
			continue
		}
		if err := netlink.RouteDel(&r); err != nil && err != unix.ESRCH {
			return fmt.Errorf("nodenet: delete route %s: %w", r.Dst, err)
		}
		n.lg.Debug("removed pod route", zap.String("dst", r.Dst.String()))
	}
	for cidr, gw := range want {
		if !cidr.Addr().Is4() || !n.cfg.Network.Contains(gw) {
			continue
		}
		r := &netlink.Route{
			LinkIndex: br.Attrs().Index,
			Dst:       &net.IPNet{IP: cidr.Addr().AsSlice(), Mask: net.CIDRMask(cidr.Bits(), 32)},
			Gw:        gw.AsSlice(),
			Protocol:  routeProtocol,
		}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("nodenet: route %s via %s: %w", cidr, gw, err)
		}
	}
	return nil
}
