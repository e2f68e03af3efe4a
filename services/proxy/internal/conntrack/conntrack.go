// Package conntrack removes stale UDP conntrack entries over netlink, so that
// a UDP client (DNS) is not stuck on an endpoint that went away, or on a
// Service IP that had no endpoints when it first sent.
package conntrack

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"drover.dev/proxy/internal/model"
)

// Flusher deletes conntrack entries in one network namespace.
type Flusher struct {
	h *netlink.Handle
}

// New opens a netlink handle in the namespace nsFd (the process's own when <= 0).
func New(nsFd int) (*Flusher, error) {
	var h *netlink.Handle
	var err error
	if nsFd > 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(nsFd), unix.NETLINK_NETFILTER)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	if err != nil {
		return nil, fmt.Errorf("conntrack: netlink: %w", err)
	}
	return &Flusher{h: h}, nil
}

// Close releases the handle.
func (f *Flusher) Close() { f.h.Close() }

// Stale compares a UDP service port before and after a change and returns
// the filters to delete: entries towards removed endpoints, and every entry
// of a service port that just got its first endpoint.
func Stale(old, nw *model.Service) []netlink.CustomConntrackFilter {
	var filters []netlink.CustomConntrackFilter
	prev := map[string]model.UDPPort{}
	if old != nil {
		for _, u := range old.UDP {
			prev[u.Keys[0].String()] = u
		}
	}
	if nw == nil {
		nw = &model.Service{}
	}
	seen := map[string]bool{}
	for _, u := range nw.UDP {
		k := u.Keys[0].String()
		seen[k] = true
		o, had := prev[k]
		if len(u.Endpoints) > 0 && (!had || len(o.Endpoints) == 0) {
			for _, key := range u.Keys {
				filters = append(filters, filter(key.IP, key.Port, netip.Addr{}))
			}
			continue
		}
		filters = append(filters, removed(o, u)...)
	}
	for k, o := range prev {
		if !seen[k] {
			filters = append(filters, removed(o, model.UDPPort{})...)
		}
	}
	return filters
}

func removed(o, u model.UDPPort) []netlink.CustomConntrackFilter {
	still := map[netip.Addr]bool{}
	for _, ep := range u.Endpoints {
		still[ep] = true
	}
	var out []netlink.CustomConntrackFilter
	for _, ep := range o.Endpoints {
		if still[ep] {
			continue
		}
		for _, key := range o.Keys {
			out = append(out, filter(key.IP, key.Port, ep))
		}
		if o.NodePort != 0 {
			out = append(out, filter(netip.Addr{}, o.NodePort, ep))
		}
	}
	return out
}

func filter(dst netip.Addr, port uint16, endpoint netip.Addr) *netlink.ConntrackFilter {
	f := &netlink.ConntrackFilter{}
	_ = f.AddProtocol(unix.IPPROTO_UDP)
	_ = f.AddPort(netlink.ConntrackOrigDstPort, port)
	if dst.IsValid() {
		_ = f.AddIP(netlink.ConntrackOrigDstIP, net.IP(dst.AsSlice()))
	}
	if endpoint.IsValid() {
		_ = f.AddIP(netlink.ConntrackReplySrcIP, net.IP(endpoint.AsSlice()))
	}
	return f
}

// Delete removes the entries matching any filter and returns how many.
func (f *Flusher) Delete(v6 bool, filters []netlink.CustomConntrackFilter) (uint, error) {
	if len(filters) == 0 {
		return 0, nil
	}
	fam := netlink.InetFamily(unix.AF_INET)
	if v6 {
		fam = unix.AF_INET6
	}
	n, err := f.h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, filters...)
	if err != nil {
		return n, fmt.Errorf("conntrack: delete: %w", err)
	}
	return n, nil
}
