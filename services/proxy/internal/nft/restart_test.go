package nft

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"drover.dev/proxy/internal/model"
	"drover.dev/proxy/internal/netnstest"
)

func stickyService(name, ip string, timeout int32) *corev1.Service {
	return testService(name, ip, 0, func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(timeout)}}
	})
}

// restart stops the harness's Syncer as a stopping proxy does (no
// cleanup: the table stays) and starts a new one on the same namespace.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatal(err)
	}
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: h.c.Node.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = s.Close() })
	h.s = s
}

// affinityEntries lists the affinity sets in the kernel and their client addresses.
func (h *harness) affinityEntries() map[string][]netip.Addr {
	h.t.Helper()
	sets, err := h.s.conn.GetSets(h.s.table)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]netip.Addr{}
	for _, set := range sets {
		if !model.IsAffinitySet(set.Name) {
			continue
		}
		elems, err := h.s.conn.GetSetElements(set)
		if err != nil {
			h.t.Fatal(err)
		}
		out[set.Name] = []netip.Addr{}
		for _, e := range elems {
			ip, _ := netip.AddrFromSlice(e.Key)
			out[set.Name] = append(out[set.Name], ip)
		}
		slices.SortFunc(out[set.Name], netip.Addr.Compare)
	}
	return out
}

// pin connects n times from src to addr and returns the one backend that
// answered (failing if several did).
func (h *harness) pin(src, addr string, n int) string {
	h.t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		name, _, err := h.c.Client.AskFrom("tcp", src, addr, 2*time.Second)
		if err != nil {
			h.t.Fatalf("%s from %s: %v", addr, src, err)
		}
		got[name]++
	}
	if len(got) != 1 {
		h.t.Fatalf("%s from %s: answers from %v, want one backend", addr, src, got)
	}
	for name := range got {
		return name
	}
	return ""
}

// TestKernelAffinityKeptAcrossRestart: a client pinned to a backend stays
// pinned when the proxy restarts (Kubernetes' nftables mode keeps
// affinity across kube-proxy restarts).
func TestKernelAffinityKeptAcrossRestart(t *testing.T) {
	h := newHarness(t, 4)
	svcs := map[*corev1.Service][]*discoveryv1.EndpointSlice{
		stickyService("sticky", "10.96.0.30", 600): {testSlice(h.c.BackendIPs...)},
	}
	h.sync(true, svcs)
	sources := []string{h.c.ClientIP, "192.0.2.2"}
	pinned := map[string]string{}
	for _, src := range sources {
		pinned[src] = h.pin(src, "10.96.0.30:80", 5)
	}
	before := h.affinityEntries()
	var entries int
	for _, ips := range before {
		entries += len(ips)
	}
	if entries != len(sources) {
		t.Fatalf("affinity entries before restart %v, want one per source", before)
	}

	h.restart()
	h.sync(true, svcs)
	if got := h.s.LastReplace(); got != ReplaceInPlace {
		t.Fatalf("restart wrote the table as %q, want %q", got, ReplaceInPlace)
	}
	if after := h.affinityEntries(); !maps.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("affinity entries after restart %v, want %v", after, before)
	}
	for _, src := range sources {
		if got := h.pin(src, "10.96.0.30:80", 10); got != pinned[src] {
			t.Fatalf("from %s: %s after restart, was pinned to %s", src, got, pinned[src])
		}
	}
	// The restarted proxier programmed what it thinks it did: a periodic
	// resync finds no drift.
	h.sync(true, svcs)
	if d := h.s.LastDrift(); d != "" {
		t.Fatalf("drift after restart: %s", d)
	}
	// --cleanup still removes everything, the kept sets with the rest.
	if err := Cleanup(corev1.IPv4Protocol, h.c.Node.Fd()); err != nil {
		t.Fatal(err)
	}
	if ok, err := TableExists(corev1.IPv4Protocol, h.c.Node.Fd()); err != nil || ok {
		t.Fatalf("table after cleanup: %v %v", ok, err)
	}
}

// TestKernelRestartDropsStaleAffinity: across a restart, sets of removed
// Services and of a changed affinity timeout go; unchanged ones stay with
// their entries.
func TestKernelRestartDropsStaleAffinity(t *testing.T) {
	h := newHarness(t, 2)
	eps := []*discoveryv1.EndpointSlice{testSlice(h.c.BackendIPs...)}
	kept, changed, removed := stickyService("kept", "10.96.0.31", 600), stickyService("changed", "10.96.0.32", 600), stickyService("removed", "10.96.0.33", 600)
	h.sync(true, map[*corev1.Service][]*discoveryv1.EndpointSlice{kept: eps, changed: eps, removed: eps})
	for _, ip := range []string{"10.96.0.31", "10.96.0.32", "10.96.0.33"} {
		h.pin(h.c.ClientIP, ip+":80", 3)
	}
	before := h.affinityEntries()

	h.restart()
	changed = stickyService("changed", "10.96.0.32", 300)
	after := map[*corev1.Service][]*discoveryv1.EndpointSlice{kept: eps, changed: eps}
	h.sync(true, after)
	if got := h.s.LastReplace(); got != ReplaceInPlace {
		t.Fatalf("restart wrote the table as %q, want %q", got, ReplaceInPlace)
	}
	want := map[string][]netip.Addr{}
	for _, a := range model.Build(h.mc, kept, eps).AffinitySets {
		want[a.Name] = before[a.Name] // unchanged: entries kept
	}
	for _, a := range model.Build(h.mc, changed, eps).AffinitySets {
		if _, ok := before[a.Name]; ok {
			t.Fatalf("changed timeout kept the set name %s", a.Name)
		}
		want[a.Name] = []netip.Addr{} // new timeout: new, empty sets
	}
	if got := h.affinityEntries(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("affinity sets after restart:\n%v\nwant\n%v", got, want)
	}
	h.pin(h.c.ClientIP, "10.96.0.32:80", 3)
	h.sync(true, after)
	if d := h.s.LastDrift(); d != "" {
		t.Fatalf("drift after restart: %s", d)
	}
}

// TestKernelIPv6TableRoundTrip writes an ip6 table (maps keyed by 16-byte
// addresses, affinity sets), checks that a resync finds exactly what was
// written and that a restart rewrites it in place.
func TestKernelIPv6TableRoundTrip(t *testing.T) {
	ns := netnstest.New(t)
	cidr := netip.MustParsePrefix("fd00:10:244::/56")
	opts := Options{Family: corev1.IPv6Protocol, NetNSFd: ns.Fd(), ClusterCIDRs: []netip.Prefix{cidr},
		NodePorts: NodePortAddrs{Restricted: true, IPs: []netip.Addr{netip.MustParseAddr("fd00:1::1")}}}
	t.Cleanup(func() {
		if err := Cleanup(corev1.IPv6Protocol, ns.Fd()); err != nil {
			t.Error(err)
		}
	})
	mc := model.Config{Family: corev1.IPv6Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{cidr}}
	sl := testSlice("fd00:10:244:1::5", "fd00:10:244:2::5")
	sl.AddressType = discoveryv1.AddressTypeIPv6
	sl.Endpoints[0].NodeName = ptr.To("node")
	svcs := map[string]*model.Service{
		"default/plain":  model.Build(mc, testService("plain", "fd00:10:96::10", 30085, nil), []*discoveryv1.EndpointSlice{sl}),
		"default/sticky": model.Build(mc, stickyService("sticky", "fd00:10:96::11", 60), []*discoveryv1.EndpointSlice{sl}),
	}
	for round := 0; round < 2; round++ { // the second round is a restarted proxy
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(svcs, true); err != nil {
			t.Fatal(err)
		}
		if want := []string{ReplaceNew, ReplaceInPlace}[round]; s.LastReplace() != want {
			t.Fatalf("round %d: table written as %q, want %q", round, s.LastReplace(), want)
		}
		if st := s.Stats(); st.Services != 2 || st.Elements < 10 {
			t.Fatalf("round %d: stats %+v", round, st)
		}
		if err := s.Sync(svcs, true); err != nil || s.LastDrift() != "" {
			t.Fatalf("round %d: resync %v, drift %q", round, err, s.LastDrift())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKernelRewriteFallsBackToNewTable: a table the in-place rewrite
// cannot reuse (here a hooked chain at another priority, as a different
// version might leave) is deleted and written anew in one batch.
func TestKernelRewriteFallsBackToNewTable(t *testing.T) {
	ns := netnstest.New(t)
	t.Cleanup(func() { _ = Cleanup(corev1.IPv4Protocol, ns.Fd()) })
	c, err := nftables.New(nftables.WithNetNSFd(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	tbl := c.AddTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4})
	c.AddChain(&nftables.Chain{Table: tbl, Name: chainNatPrerouting, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-50)})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Family: corev1.IPv4Protocol, NetNSFd: ns.Fd(), ClusterCIDRs: []netip.Prefix{clusterCIDR}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mc := model.Config{Family: corev1.IPv4Protocol, NodeName: "node", ClusterCIDRs: []netip.Prefix{clusterCIDR}}
	svcs := map[string]*model.Service{"default/x": model.Build(mc, testService("x", "10.96.0.50", 0, nil), []*discoveryv1.EndpointSlice{testSlice("10.244.1.5")})}
	if err := s.Sync(svcs, true); err != nil {
		t.Fatal(err)
	}
	if got := s.LastReplace(); !strings.HasPrefix(got, ReplaceDeleted) {
		t.Fatalf("table written as %q, want %q...", got, ReplaceDeleted)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		if ch.Name == chainNatPrerouting && *ch.Priority != *nftables.ChainPriorityNATDest {
			t.Fatalf("%s at priority %d after the rewrite", ch.Name, *ch.Priority)
		}
	}
	if err := s.Sync(svcs, true); err != nil || s.LastDrift() != "" {
		t.Fatalf("resync %v, drift %q", err, s.LastDrift())
	}
}
