package zone

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"drover.dev/dns/internal/object"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func svc(ns, name string, mut func(*object.Service)) *object.Service {
	s := &object.Service{Meta: object.Meta{Name: name, Namespace: ns}}
	mut(s)
	return s
}

// testZone is the in-memory cache the table tests query: every kind of
// Service, a slice, and a pod.
func testZone(t *testing.T, mode PodMode) *Zone {
	t.Helper()
	z, err := New("cluster.local", 5, mode)
	if err != nil {
		t.Fatal(err)
	}
	z.UpsertService(svc("default", "web", func(s *object.Service) {
		s.ClusterIPs = addrs("10.96.0.20")
		s.Ports = []object.Port{{Name: "http", Protocol: "tcp", Port: 80}, {Name: "dns", Protocol: "udp", Port: 53}}
	}))
	z.UpsertService(svc("default", "dual", func(s *object.Service) { s.ClusterIPs = addrs("10.96.0.21", "fd00::21") }))
	z.UpsertService(svc("default", "db", func(s *object.Service) { s.Headless = true }))
	z.UpsertSlice(&object.EndpointSlice{Meta: object.Meta{Name: "db-abc", Namespace: "default"}, Service: "db",
		Ports: []object.Port{{Name: "pg", Protocol: "tcp", Port: 5432}},
		Endpoints: []object.Endpoint{
			{Addrs: addrs("10.244.1.5"), Hostname: "db-0", Ready: true},
			{Addrs: addrs("10.244.1.6"), Hostname: "db-1", Ready: true},
			{Addrs: addrs("10.244.1.7"), Ready: true},
			{Addrs: addrs("10.244.1.8"), Hostname: "db-3", Ready: false},
		}})
	z.UpsertService(svc("default", "ext", func(s *object.Service) { s.ExternalName = "example.com." }))
	z.UpsertService(svc("default", "alias", func(s *object.Service) { s.ExternalName = "web.default.svc.cluster.local." }))
	z.UpsertService(svc("default", "dangling", func(s *object.Service) { s.ExternalName = "gone.default.svc.cluster.local." }))
	z.UpsertService(svc("default", "ds", func(s *object.Service) { s.Headless = true }))
	z.UpsertSlice(&object.EndpointSlice{Meta: object.Meta{Name: "ds-4", Namespace: "default"}, Service: "ds",
		Ports:     []object.Port{{Name: "web", Protocol: "tcp", Port: 8080}},
		Endpoints: []object.Endpoint{{Addrs: addrs("10.244.4.1", "fd00:4::1"), Hostname: "ds-0", Ready: true}}})
	z.AddPod("default", "p", addrs("10.244.1.5", "fd00:244::5"))
	return z
}

type result struct {
	ours   bool
	chase  string
	rcode  int
	answer []string // "type data", sorted
	soa    bool
	extra  int
}

func query(z *Zone, name string, qtype uint16) result {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r := new(dns.Msg)
	r.SetReply(m)
	ours, chase := z.Lookup(strings.ToLower(name), qtype, r)
	res := result{ours: ours, chase: chase, rcode: r.Rcode, extra: len(r.Extra)}
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		res.answer = append(res.answer, f[3]+" "+strings.Join(f[4:], " "))
	}
	slices.Sort(res.answer)
	for _, rr := range r.Ns {
		if rr.Header().Rrtype == dns.TypeSOA {
			res.soa = true
		}
	}
	if ours && !r.Authoritative {
		res.rcode = -1 // flag: zone answers must be authoritative
	}
	return res
}

func TestLookup(t *testing.T) {
	const nx, ok = dns.RcodeNameError, dns.RcodeSuccess
	tests := []struct {
		name  string
		qname string
		qtype uint16
		mode  PodMode
		want  result
	}{
		{"clusterIP A", "web.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.96.0.20"}}},
		{"case insensitive", "WEB.Default.SVC.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.96.0.20"}}},
		{"clusterIP AAAA is NODATA", "web.default.svc.cluster.local.", dns.TypeAAAA, "", result{ours: true, soa: true}},
		{"dual-stack AAAA", "dual.default.svc.cluster.local.", dns.TypeAAAA, "", result{ours: true, answer: []string{"AAAA fd00::21"}}},
		{"dual-stack ANY", "dual.default.svc.cluster.local.", dns.TypeANY, "", result{ours: true, answer: []string{"A 10.96.0.21", "AAAA fd00::21"}}},
		{"missing service NXDOMAIN", "nope.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"namespace is NODATA", "default.svc.cluster.local.", dns.TypeA, "", result{ours: true, soa: true}},
		{"unknown namespace NXDOMAIN", "other.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"svc apex NODATA", "svc.cluster.local.", dns.TypeA, "", result{ours: true, soa: true}},
		{"search path suffix NXDOMAIN", "web.default.svc.cluster.local.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"external under search path NXDOMAIN", "example.com.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"SRV named tcp port", "_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, answer: []string{"SRV 0 100 80 web.default.svc.cluster.local."}, extra: 1}},
		{"SRV named udp port", "_dns._udp.web.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, answer: []string{"SRV 0 100 53 web.default.svc.cluster.local."}, extra: 1}},
		{"SRV wrong protocol NXDOMAIN", "_http._udp.web.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, rcode: nx, soa: true}},
		{"SRV A query NODATA", "_http._tcp.web.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, soa: true}},
		{"proto label is ENT", "_tcp.web.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, soa: true}},
		{"headless A lists ready endpoints", "db.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.244.1.5", "A 10.244.1.6", "A 10.244.1.7"}}},
		{"headless hostname", "db-0.db.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.244.1.5"}}},
		{"headless without hostname: dashed IP", "10-244-1-7.db.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.244.1.7"}}},
		{"not ready endpoint hidden", "db-3.db.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"headless SRV per endpoint", "_pg._tcp.db.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, answer: []string{
			"SRV 0 100 5432 10-244-1-7.db.default.svc.cluster.local.",
			"SRV 0 100 5432 db-0.db.default.svc.cluster.local.",
			"SRV 0 100 5432 db-1.db.default.svc.cluster.local."}, extra: 3}},
		{"headless proto label is ENT", "_tcp.db.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, soa: true}},
		{"headless unknown proto label", "_udp.db.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, rcode: nx, soa: true}},
		{"too many labels", "a.b.c.web.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"dual-stack endpoint: one SRV, two addresses", "_web._tcp.ds.default.svc.cluster.local.", dns.TypeSRV, "", result{ours: true, answer: []string{"SRV 0 100 8080 ds-0.ds.default.svc.cluster.local."}, extra: 2}},
		{"dual-stack endpoint AAAA", "ds-0.ds.default.svc.cluster.local.", dns.TypeAAAA, "", result{ours: true, answer: []string{"AAAA fd00:4::1"}}},
		{"PTR clusterIP", "20.0.96.10.in-addr.arpa.", dns.TypePTR, "", result{ours: true, answer: []string{"PTR web.default.svc.cluster.local."}}},
		{"PTR IPv6 clusterIP", "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, "", result{ours: true, answer: []string{"PTR dual.default.svc.cluster.local."}}},
		{"PTR endpoint with hostname", "5.1.244.10.in-addr.arpa.", dns.TypePTR, "", result{ours: true, answer: []string{"PTR db-0.db.default.svc.cluster.local."}}},
		{"PTR endpoint without hostname", "7.1.244.10.in-addr.arpa.", dns.TypePTR, "", result{ours: true, answer: []string{"PTR 10-244-1-7.db.default.svc.cluster.local."}}},
		{"PTR unknown IP is forwarded", "9.9.9.9.in-addr.arpa.", dns.TypePTR, "", result{}},
		{"reverse name, other type NODATA", "20.0.96.10.in-addr.arpa.", dns.TypeA, "", result{ours: true, soa: true}},
		{"ExternalName CNAME then chase", "ext.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, chase: "example.com.", answer: []string{"CNAME example.com."}}},
		{"ExternalName CNAME query", "ext.default.svc.cluster.local.", dns.TypeCNAME, "", result{ours: true, answer: []string{"CNAME example.com."}}},
		{"ExternalName to in-zone name", "alias.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"A 10.96.0.20", "CNAME web.default.svc.cluster.local."}}},
		{"ExternalName to missing in-zone name", "dangling.default.svc.cluster.local.", dns.TypeA, "", result{ours: true, answer: []string{"CNAME gone.default.svc.cluster.local."}}},
		{"dns-version TXT", "dns-version.cluster.local.", dns.TypeTXT, "", result{ours: true, answer: []string{`TXT "1.1.0"`}}},
		{"dns-version A NODATA", "dns-version.cluster.local.", dns.TypeA, "", result{ours: true, soa: true}},
		{"apex SOA", "cluster.local.", dns.TypeSOA, "", result{ours: true, answer: []string{"SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"}}},
		{"apex NS", "cluster.local.", dns.TypeNS, "", result{ours: true, answer: []string{"NS ns.dns.cluster.local."}}},
		{"apex A NODATA", "cluster.local.", dns.TypeA, "", result{ours: true, soa: true}},
		{"unknown in zone NXDOMAIN", "foo.cluster.local.", dns.TypeA, "", result{ours: true, rcode: nx, soa: true}},
		{"pod verified", "10-244-1-5.default.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, answer: []string{"A 10.244.1.5"}}},
		{"pod verified IPv6", "fd00-244--5.default.pod.cluster.local.", dns.TypeAAAA, PodsVerified, result{ours: true, answer: []string{"AAAA fd00:244::5"}}},
		{"pod verified wrong type NODATA", "10-244-1-5.default.pod.cluster.local.", dns.TypeAAAA, PodsVerified, result{ours: true, soa: true}},
		{"pod verified unknown IP", "10-244-1-9.default.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, rcode: nx, soa: true}},
		{"pod verified other namespace", "10-244-1-5.other.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, rcode: nx, soa: true}},
		{"pod malformed IP", "10-244-1.default.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, rcode: nx, soa: true}},
		{"pod too many labels", "a.10-244-1-5.default.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, rcode: nx, soa: true}},
		{"pod namespace with pods NODATA", "default.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, soa: true}},
		{"pod namespace without pods NXDOMAIN", "other.pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, rcode: nx, soa: true}},
		{"pod apex NODATA", "pod.cluster.local.", dns.TypeA, PodsVerified, result{ours: true, soa: true}},
		{"pod insecure answers any IP", "10-244-1-9.other.pod.cluster.local.", dns.TypeA, PodsInsecure, result{ours: true, answer: []string{"A 10.244.1.9"}}},
		{"pod disabled", "10-244-1-5.default.pod.cluster.local.", dns.TypeA, PodsDisabled, result{ours: true, rcode: nx, soa: true}},
		{"outside the zone", "example.com.", dns.TypeA, "", result{}},
		{"suffix lookalike outside", "xcluster.local.", dns.TypeA, "", result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == "" {
				mode = PodsVerified
			}
			got := query(testZone(t, mode), tt.qname, tt.qtype)
			if got.ours != tt.want.ours || got.chase != tt.want.chase || got.rcode != tt.want.rcode ||
				!slices.Equal(got.answer, tt.want.answer) || got.soa != tt.want.soa || got.extra != tt.want.extra {
				t.Errorf("%s %s:\n got %+v\nwant %+v", tt.qname, dns.TypeToString[tt.qtype], got, tt.want)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	z := testZone(t, PodsVerified)
	steps := []struct {
		name   string
		change func()
		qname  string
		qtype  uint16
		want   result
	}{
		{"clusterIP changes", func() {
			z.UpsertService(svc("default", "web", func(s *object.Service) { s.ClusterIPs = addrs("10.96.0.99") }))
		}, "web.default.svc.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 10.96.0.99"}}},
		{"old PTR gone", nil, "20.0.96.10.in-addr.arpa.", dns.TypePTR, result{}},
		{"dropped port's SRV gone", nil, "_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"service deleted", func() { z.DeleteService("default", "web") }, "web.default.svc.cluster.local.", dns.TypeA,
			result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"slice before its service", func() {
			z.UpsertSlice(&object.EndpointSlice{Meta: object.Meta{Name: "hl-1", Namespace: "late"}, Service: "hl",
				Endpoints: []object.Endpoint{{Addrs: addrs("10.244.2.1"), Ready: true}}})
		}, "hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"service arrives", func() { z.UpsertService(svc("late", "hl", func(s *object.Service) { s.Headless = true })) },
			"hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 10.244.2.1"}}},
		{"second slice merges", func() {
			z.UpsertSlice(&object.EndpointSlice{Meta: object.Meta{Name: "hl-2", Namespace: "late"}, Service: "hl",
				Endpoints: []object.Endpoint{{Addrs: addrs("10.244.2.2"), Ready: true}, {Addrs: addrs("10.244.2.1"), Ready: true}}})
		}, "hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 10.244.2.1", "A 10.244.2.2"}}},
		{"slice deleted", func() {
			z.DeleteSlice(&object.EndpointSlice{Meta: object.Meta{Name: "hl-1", Namespace: "late"}, Service: "hl"})
		},
			"hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 10.244.2.1", "A 10.244.2.2"}}},
		{"last slice deleted: the service name exists, NODATA", func() {
			z.DeleteSlice(&object.EndpointSlice{Meta: object.Meta{Name: "hl-2", Namespace: "late"}, Service: "hl"})
		}, "hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, soa: true}},
		{"endpoint name gone with its slice", nil, "10-244-2-2.hl.late.svc.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"namespace ENT gone with its services", func() { z.DeleteService("late", "hl") },
			"late.svc.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"pod finishes", func() { z.RemovePod("default", "p", addrs("10.244.1.5", "fd00:244::5")) },
			"10-244-1-5.default.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"namespace without pods", nil, "default.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"host-network pods share an IP", func() {
			z.AddPod("a", "h1", addrs("192.168.0.10"))
			z.AddPod("b", "h2", addrs("192.168.0.10"))
			z.AddPod("b", "h2", addrs("192.168.0.10")) // again: no double count
		}, "192-168-0-10.b.pod.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 192.168.0.10"}}},
		{"first of them deleted", func() { z.RemovePod("a", "h1", addrs("192.168.0.10")) },
			"192-168-0-10.b.pod.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 192.168.0.10"}}},
		{"deleted one gone", nil, "192-168-0-10.a.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"removing a pod that does not hold the IP changes nothing", func() { z.RemovePod("b", "other", addrs("192.168.0.10")) },
			"192-168-0-10.b.pod.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 192.168.0.10"}}},
		{"relist drops missing pods", func() { z.ReplacePods(nil) },
			"192-168-0-10.b.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"and their namespaces", nil, "b.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"relist keeps the listed pods", func() {
			z.AddPod("c", "k1", addrs("10.244.7.1"))
			z.AddPod("c", "k2", addrs("10.244.7.2"))
			z.ReplacePods([]*object.Pod{{Meta: object.Meta{Name: "k2", Namespace: "c"}, IPs: addrs("10.244.7.2")}})
		}, "10-244-7-2.c.pod.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 10.244.7.2"}}},
		{"and drops the others", nil, "10-244-7-1.c.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"relist drops every pod sharing an IP", func() {
			for _, ns := range []string{"d", "e", "f"} {
				z.AddPod(ns, "h", addrs("192.168.0.20"))
			}
			z.ReplacePods(nil)
		}, "192-168-0-20.e.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"relist keeps the last of those sharing an IP", func() {
			for _, ns := range []string{"d", "e", "f"} {
				z.AddPod(ns, "h", addrs("192.168.0.20"))
			}
			z.ReplacePods([]*object.Pod{{Meta: object.Meta{Name: "h", Namespace: "f"}, IPs: addrs("192.168.0.20")}})
		}, "192-168-0-20.f.pod.cluster.local.", dns.TypeA, result{ours: true, answer: []string{"A 192.168.0.20"}}},
		{"and not the others", nil, "192-168-0-20.d.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"nor their namespaces", nil, "e.pod.cluster.local.", dns.TypeA, result{ours: true, rcode: dns.RcodeNameError, soa: true}},
		{"an endpoint of two headless services has two PTRs", func() {
			for _, ns := range []string{"x", "y"} {
				z.UpsertService(svc(ns, "hl", func(s *object.Service) { s.Headless = true }))
				z.UpsertSlice(&object.EndpointSlice{Meta: object.Meta{Name: "hl-1", Namespace: ns}, Service: "hl",
					Endpoints: []object.Endpoint{{Addrs: addrs("10.244.9.9"), Ready: true}}})
			}
		}, "9.9.244.10.in-addr.arpa.", dns.TypePTR, result{ours: true, answer: []string{"PTR 10-244-9-9.hl.x.svc.cluster.local.", "PTR 10-244-9-9.hl.y.svc.cluster.local."}}},
		{"the first deleted, the second stays", func() { z.DeleteService("x", "hl") },
			"9.9.244.10.in-addr.arpa.", dns.TypePTR, result{ours: true, answer: []string{"PTR 10-244-9-9.hl.y.svc.cluster.local."}}},
		{"both deleted", func() { z.DeleteService("y", "hl") }, "9.9.244.10.in-addr.arpa.", dns.TypePTR, result{}},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		got := query(z, st.qname, st.qtype)
		if got.ours != st.want.ours || got.rcode != st.want.rcode || !slices.Equal(got.answer, st.want.answer) || got.soa != st.want.soa {
			t.Errorf("%s: %s:\n got %+v\nwant %+v", st.name, st.qname, got, st.want)
		}
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tt := range []struct {
		domain string
		mode   PodMode
	}{{"", PodsVerified}, {"a..b", PodsVerified}, {"cluster.local", "sometimes"}} {
		if _, err := New(tt.domain, 5, tt.mode); err == nil {
			t.Errorf("New(%q, %q) accepted", tt.domain, tt.mode)
		}
	}
}

func TestParseReverse(t *testing.T) {
	for _, s := range []string{"10.96.0.1", "255.0.10.1", "fd00::21", "2001:db8::ff00:42:8329"} {
		a := netip.MustParseAddr(s)
		name, _ := dns.ReverseAddr(s)
		if got, ok := parseReverse(name); !ok || got != a {
			t.Errorf("parseReverse(%q) = %v, %v; want %v", name, got, ok, a)
		}
	}
	for _, bad := range []string{"0.96.10.in-addr.arpa.", "1.0.96.10.10.in-addr.arpa.", "01.0.96.10.in-addr.arpa.", "256.0.96.10.in-addr.arpa.",
		"x.0.96.10.in-addr.arpa.", "1.2.ip6.arpa.", "in-addr.arpa.", "1.0.96.10.in-addr.arpa.com."} {
		if a, ok := parseReverse(bad); ok {
			t.Errorf("parseReverse(%q) = %v, accepted", bad, a)
		}
	}
}

func TestDashed(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "fd00::1", "2001:db8:0:1::5"} {
		a := netip.MustParseAddr(s)
		got, ok := undashed(dashed(a))
		if !ok || got != a {
			t.Errorf("undashed(dashed(%s)) = %v, %v", s, got, ok)
		}
	}
	for _, bad := range []string{"10-1-2", "10-1-2-300", "x-y-z-w", "", "1-2-3-4-5"} {
		if _, ok := undashed(bad); ok {
			t.Errorf("undashed(%q) accepted", bad)
		}
	}
}

// BenchmarkLookup measures a cluster name lookup with 10,000 services.
func BenchmarkLookup(b *testing.B) {
	z, _ := New("cluster.local", 5, PodsVerified)
	for i := range 10000 {
		z.UpsertService(svc("ns"+string(rune('a'+i%20)), "svc"+strconv.Itoa(i), func(s *object.Service) {
			s.ClusterIPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})}
		}))
	}
	b.ReportAllocs()
	for b.Loop() {
		m := new(dns.Msg)
		z.Lookup("svc42.nsc.svc.cluster.local.", dns.TypeA, m)
	}
}
