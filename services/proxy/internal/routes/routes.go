// Package routes installs the host-gw pod network between nodes: a route to
// every other node's spec.podCIDR via that node's InternalIP. drover-proxy
// owns these routes (not the kubelet): it already watches Nodes on every
// node, and it runs in the node's network namespace. Our routes carry their
// own rtm_protocol, so stale ones are found and removed without touching
// anyone else's.
package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Protocol marks drover's routes (rtm_protocol; 'ip route' shows it as 211).
const Protocol netlink.RouteProtocol = 211

// Route is one desired route.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Desired lists routes to every node but self, for pod CIDRs of the nodes'
// InternalIP family.
func Desired(self string, nodes []*corev1.Node) []Route {
	var out []Route
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			for _, a := range n.Status.Addresses {
				if a.Type != corev1.NodeInternalIP {
					continue
				}
				ip, err := netip.ParseAddr(a.Address)
				if err == nil && ip.Is4() == p.Addr().Is4() {
					out = append(out, Route{Dst: p.Masked(), Via: ip})
					break
				}
			}
		}
	}
	return out
}

// Manager applies routes in one namespace.
type Manager struct {
	h *netlink.Handle
}

// New opens a route handle in nsFd (the process's own when <= 0).
func New(nsFd int) (*Manager, error) {
	var h *netlink.Handle
	var err error
	if nsFd > 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(nsFd), unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("routes: netlink: %w", err)
	}
	return &Manager{h: h}, nil
}

// Close releases the handle.
func (m *Manager) Close() { m.h.Close() }

// Sync makes our routes exactly want: it replaces what differs and deletes
// routes of ours that are no longer wanted. It returns the routes installed.
func (m *Manager) Sync(want []Route) (int, error) {
	have, err := m.List()
	if err != nil {
		return 0, err
	}
	wanted := map[netip.Prefix]netip.Addr{}
	for _, r := range want {
		wanted[r.Dst] = r.Via
	}
	var errs []error
	n := 0
	for dst, via := range wanted {
		if have[dst] == via {
			n++
			continue
		}
		r := &netlink.Route{Dst: ipnet(dst), Gw: net.IP(via.AsSlice()), Protocol: Protocol}
		if err := m.h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("routes: %s via %s: %w", dst, via, err))
			continue
		}
		n++
	}
	for dst, via := range have {
		if _, ok := wanted[dst]; ok {
			continue
		}
		r := &netlink.Route{Dst: ipnet(dst), Gw: net.IP(via.AsSlice()), Protocol: Protocol}
		if err := m.h.RouteDel(r); err != nil {
			errs = append(errs, fmt.Errorf("routes: delete %s: %w", dst, err))
		}
	}
	return n, errors.Join(errs...)
}

// List returns the routes carrying our protocol.
func (m *Manager) List() (map[netip.Prefix]netip.Addr, error) {
	out := map[netip.Prefix]netip.Addr{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := m.h.RouteListFiltered(fam, &netlink.Route{Protocol: Protocol}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return nil, fmt.Errorf("routes: list: %w", err)
		}
		for _, r := range rs {
			if r.Dst == nil {
				continue
			}
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			gw, _ := netip.AddrFromSlice(r.Gw)
			out[netip.PrefixFrom(a.Unmap(), ones)] = gw.Unmap()
		}
	}
	return out, nil
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
