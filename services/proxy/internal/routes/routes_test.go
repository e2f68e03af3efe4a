package routes

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/proxy/internal/netnstest"
)

func node(name string, cidrs []string, addrs ...corev1.NodeAddress) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}, Status: corev1.NodeStatus{Addresses: addrs}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR = cidrs[0]
	}
	return n
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func TestDesired(t *testing.T) {
	nodes := []*corev1.Node{
		node("self", []string{"10.244.0.0/24"}, internal("172.16.0.1")),
		node("b", []string{"10.244.1.0/24", "fd00:1::/64"}, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "198.51.100.2"}, internal("172.16.0.2"), internal("fc00::2")),
		node("no-cidr", nil, internal("172.16.0.3")),
		node("no-address", []string{"10.244.4.0/24"}),
		node("bad", []string{"not-a-cidr"}, internal("172.16.0.5")),
	}
	got := Desired("self", nodes)
	want := []Route{
		{Dst: netip.MustParsePrefix("10.244.1.0/24"), Via: netip.MustParseAddr("172.16.0.2")},
		{Dst: netip.MustParsePrefix("fd00:1::/64"), Via: netip.MustParseAddr("fc00::2")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestManagerSync programs real routes in a throw-away namespace.
func TestManagerSync(t *testing.T) {
	ns := netnstest.New(t)
	link, _ := netnstest.Link(t, ns, "172.16.0.1/24", netnstest.New(t), "172.16.0.2/24")
	m, err := New(ns.Fd())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A route of someone else's in the same range of addresses: never touched.
	foreign := netip.MustParsePrefix("10.99.0.0/24")
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(link)
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(foreign), Gw: net.ParseIP("172.16.0.3"), Protocol: unix.RTPROT_STATIC})
	}); err != nil {
		t.Fatal(err)
	}
	a := Route{Dst: netip.MustParsePrefix("10.244.1.0/24"), Via: netip.MustParseAddr("172.16.0.2")}
	b := Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Via: netip.MustParseAddr("172.16.0.3")}
	steps := []struct {
		name string
		want []Route
	}{
		{"install two", []Route{a, b}},
		{"unchanged", []Route{a, b}},
		{"gateway moves", []Route{a, {Dst: b.Dst, Via: netip.MustParseAddr("172.16.0.4")}}},
		{"one node gone", []Route{a}},
		{"all gone", nil},
	}
	for _, st := range steps {
		n, err := m.Sync(st.want)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n != len(st.want) {
			t.Fatalf("%s: %d routes installed, want %d", st.name, n, len(st.want))
		}
		have, err := m.List()
		if err != nil {
			t.Fatal(err)
		}
		want := map[netip.Prefix]netip.Addr{}
		for _, r := range st.want {
			want[r.Dst] = r.Via
		}
		if !reflect.DeepEqual(have, want) {
			t.Fatalf("%s: kernel has %v, want %v", st.name, have, want)
		}
	}
	// The foreign route survived every sync.
	if err := ns.Do(func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: ipnet(foreign)}, netlink.RT_FILTER_DST)
		if err != nil {
			return err
		}
		if len(rs) != 1 {
			t.Errorf("foreign route: %v", rs)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
