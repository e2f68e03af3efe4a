package conntrack

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"drover.dev/proxy/internal/model"
)

var (
	clusterIP  = netip.MustParseAddr("10.96.0.10")
	externalIP = netip.MustParseAddr("192.0.2.7")
	epA        = netip.MustParseAddr("10.244.1.3")
	epB        = netip.MustParseAddr("10.244.2.3")
	nodeIP     = "172.16.0.5"
)

func udpService(nodePort uint16, eps ...netip.Addr) *model.Service {
	return &model.Service{UDP: []model.UDPPort{{
		Keys: []model.Key{
			{IP: clusterIP, Proto: corev1.ProtocolUDP, Port: 53},
			{IP: externalIP, Proto: corev1.ProtocolUDP, Port: 53},
		},
		NodePort:  nodePort,
		Endpoints: eps,
	}}}
}

// flow is a UDP conntrack entry: client → dst:port, answered by endpoint.
func flow(dst string, port uint16, endpoint netip.Addr) *netlink.ConntrackFlow {
	return &netlink.ConntrackFlow{
		FamilyType: unix.AF_INET,
		Forward:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.ParseIP("10.244.9.9"), SrcPort: 40000, DstIP: net.ParseIP(dst), DstPort: port},
		Reverse:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.IP(endpoint.AsSlice()), SrcPort: 5353, DstIP: net.ParseIP("10.244.9.9"), DstPort: 40000},
	}
}

func matches(filters []netlink.CustomConntrackFilter, f *netlink.ConntrackFlow) bool {
	for _, fl := range filters {
		if fl.MatchConntrackFlow(f) {
			return true
		}
	}
	return false
}

func TestStale(t *testing.T) {
	tests := []struct {
		name    string
		old, nw *model.Service
		deleted []*netlink.ConntrackFlow
		kept    []*netlink.ConntrackFlow
	}{
		{
			name: "removed endpoint: its entries on every service address and the node port go",
			old:  udpService(30053, epA, epB),
			nw:   udpService(30053, epB),
			deleted: []*netlink.ConntrackFlow{
				flow("10.96.0.10", 53, epA), flow("192.0.2.7", 53, epA), flow(nodeIP, 30053, epA),
			},
			kept: []*netlink.ConntrackFlow{
				flow("10.96.0.10", 53, epB), flow(nodeIP, 30053, epB),
				flow("10.96.0.10", 54, epA), // another port of the same IP
			},
		},
		{
			name: "first endpoint: every entry of the service address goes (they were rejected or blackholed)",
			old:  udpService(0),
			nw:   udpService(0, epA),
			deleted: []*netlink.ConntrackFlow{
				flow("10.96.0.10", 53, netip.MustParseAddr("10.96.0.10")), flow("192.0.2.7", 53, epB),
			},
			kept: []*netlink.ConntrackFlow{flow("10.96.0.11", 53, epA)},
		},
		{
			name:    "service created with endpoints counts as first endpoint",
			old:     nil,
			nw:      udpService(0, epA),
			deleted: []*netlink.ConntrackFlow{flow("10.96.0.10", 53, epB)},
		},
		{
			name:    "service deleted: entries towards its endpoints go",
			old:     udpService(0, epA),
			nw:      nil,
			deleted: []*netlink.ConntrackFlow{flow("10.96.0.10", 53, epA)},
			kept:    []*netlink.ConntrackFlow{flow("10.96.0.10", 53, epB)},
		},
		{
			name: "unchanged endpoints: nothing",
			old:  udpService(30053, epA),
			nw:   udpService(30053, epA),
			kept: []*netlink.ConntrackFlow{flow("10.96.0.10", 53, epA), flow(nodeIP, 30053, epA)},
		},
		{
			name: "TCP-only service: nothing",
			old:  &model.Service{},
			nw:   &model.Service{},
			kept: []*netlink.ConntrackFlow{flow("10.96.0.10", 53, epA)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filters := Stale(tt.old, tt.nw)
			for _, f := range tt.deleted {
				if !matches(filters, f) {
					t.Errorf("entry %v → %v answered by %v kept, want deleted", f.Forward.DstIP, f.Forward.DstPort, f.Reverse.SrcIP)
				}
			}
			for _, f := range tt.kept {
				if matches(filters, f) {
					t.Errorf("entry %v → %v answered by %v deleted, want kept", f.Forward.DstIP, f.Forward.DstPort, f.Reverse.SrcIP)
				}
			}
			tcp := flow("10.96.0.10", 53, epA)
			tcp.Forward.Protocol, tcp.Reverse.Protocol = unix.IPPROTO_TCP, unix.IPPROTO_TCP
			if matches(filters, tcp) {
				t.Error("a TCP entry matched")
			}
		})
	}
}
