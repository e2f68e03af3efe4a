package hostroutes

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, podCIDR string, podCIDRs []string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: podCIDRs},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func TestWant(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*corev1.Node
		want  map[netip.Prefix]netip.Addr
	}{
		{name: "pod CIDR via InternalIP", nodes: []*corev1.Node{
			node("a", "10.244.0.0/24", nil, internal("172.31.0.2")),
			node("b", "10.244.1.0/24", []string{"10.244.1.0/24"}, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "b"}, internal("172.31.0.3")),
		}, want: map[netip.Prefix]netip.Addr{
			netip.MustParsePrefix("10.244.0.0/24"): netip.MustParseAddr("172.31.0.2"),
			netip.MustParsePrefix("10.244.1.0/24"): netip.MustParseAddr("172.31.0.3"),
		}},
		{name: "no pod CIDR yet", nodes: []*corev1.Node{node("a", "", nil, internal("172.31.0.2"))}, want: map[netip.Prefix]netip.Addr{}},
		{name: "no InternalIP", nodes: []*corev1.Node{node("a", "10.244.0.0/24", nil, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "1.2.3.4"})}, want: map[netip.Prefix]netip.Addr{}},
		{name: "IPv6 InternalIP skipped for the IPv4 one", nodes: []*corev1.Node{node("a", "10.244.0.0/24", nil, internal("fd00::2"), internal("172.31.0.2"))},
			want: map[netip.Prefix]netip.Addr{netip.MustParsePrefix("10.244.0.0/24"): netip.MustParseAddr("172.31.0.2")}},
		{name: "garbage CIDR ignored", nodes: []*corev1.Node{node("a", "10.244.0.0/99", nil, internal("172.31.0.2"))}, want: map[netip.Prefix]netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Want(tt.nodes); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Want = %v, want %v", got, tt.want)
			}
		})
	}
}
