package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"drover.dev/dns/internal/forward"
	"drover.dev/dns/internal/object"
	"drover.dev/dns/internal/zone"
)

// startUpstream runs a real DNS server on loopback; next, when set, makes
// it forward every query there instead of answering (a loop when next is
// the server under test).
func startUpstream(t testing.TB, next func() string) (string, *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		n.Add(1)
		if next != nil {
			c := &dns.Client{Timeout: time.Second}
			if r, _, err := c.Exchange(req, next()); err == nil {
				_ = w.WriteMsg(r)
			}
			return
		}
		r := new(dns.Msg)
		r.SetReply(req)
		q := req.Question[0]
		if strings.EqualFold(q.Name, "example.com.") && q.Qtype == dns.TypeA {
			r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		} else {
			r.Rcode = dns.RcodeNameError
			r.Ns = append(r.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "com.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}, Ns: "a.com.", Mbox: "b.com.", Minttl: 60})
		}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String(), &n
}

type fixture struct {
	addr string
	zone *zone.Zone
	fwd  *forward.Forwarder
	up   *atomic.Int64
}

func start(t testing.TB) *fixture {
	t.Helper()
	z, err := zone.New("cluster.local", 5, zone.PodsVerified)
	if err != nil {
		t.Fatal(err)
	}
	up, n := startUpstream(t, nil)
	// 1,000 entries is 15 per shard: a cache of 100 holds one per shard,
	// and a name hashed to example.com's shard evicted it (1 run in 64).
	fwd, err := forward.New(forward.Options{Upstreams: []string{up}, Timeout: time.Second, Cache: forward.NewCache(1000, time.Hour, time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen("127.0.0.1:0", &Handler{Zone: z, Forwarder: fwd, MaxUDPSize: 1232, ForwardTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	z.UpsertService(&object.Service{Meta: object.Meta{Name: "web", Namespace: "default"}, ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.20")}})
	z.UpsertService(&object.Service{Meta: object.Meta{Name: "ext", Namespace: "default"}, ExternalName: "example.com."})
	// 100 ready endpoints: about 1.6 kB of A records.
	z.UpsertService(&object.Service{Meta: object.Meta{Name: "many", Namespace: "default"}, Headless: true})
	sl := &object.EndpointSlice{Meta: object.Meta{Name: "many-1", Namespace: "default"}, Service: "many"}
	for i := range 100 {
		sl.Endpoints = append(sl.Endpoints, object.Endpoint{Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 244, 3, byte(i + 1)})}, Ready: true})
	}
	z.UpsertSlice(sl)
	return &fixture{addr: s.Addr.String(), zone: z, fwd: fwd, up: n}
}

func exchange(t *testing.T, addr, proto, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], proto, err)
	}
	if r.Id != m.Id {
		t.Fatalf("id %d, want %d", r.Id, m.Id)
	}
	return r
}

func TestServe(t *testing.T) {
	f := start(t)
	tests := []struct {
		name      string
		proto     string
		qname     string
		qtype     uint16
		edns      uint16
		rcode     int
		answers   int
		truncated bool
		maxLen    int
		aa        bool
		opt       bool
	}{
		{"cluster A over UDP", "udp", "web.default.svc.cluster.local.", dns.TypeA, 0, 0, 1, false, 512, true, false},
		{"cluster A over TCP", "tcp", "web.default.svc.cluster.local.", dns.TypeA, 0, 0, 1, false, 0, true, false},
		{"NXDOMAIN with SOA", "udp", "nope.default.svc.cluster.local.", dns.TypeA, 0, dns.RcodeNameError, 0, false, 512, true, false},
		{"EDNS0 echoed", "udp", "web.default.svc.cluster.local.", dns.TypeA, 4096, 0, 1, false, 1232, true, true},
		{"large answer truncated at 512 without EDNS0", "udp", "many.default.svc.cluster.local.", dns.TypeA, 0, 0, -1, true, 512, true, false},
		{"large answer truncated at the EDNS0 size", "udp", "many.default.svc.cluster.local.", dns.TypeA, 1000, 0, -1, true, 1000, true, true},
		{"EDNS0 4096 capped at 1232 still truncated", "udp", "many.default.svc.cluster.local.", dns.TypeA, 4096, 0, -1, true, 1232, true, true},
		{"large answer whole over TCP", "tcp", "many.default.svc.cluster.local.", dns.TypeA, 0, 0, 100, false, 0, true, false},
		{"forwarded", "udp", "example.com.", dns.TypeA, 0, 0, 1, false, 512, false, false},
		{"forwarded again from cache, with EDNS0", "udp", "example.com.", dns.TypeA, 1232, 0, 1, false, 512, false, true},
		{"forwarded over TCP", "tcp", "example.com.", dns.TypeA, 0, 0, 1, false, 0, false, false},
		{"forwarded NXDOMAIN", "udp", "nx.example.com.", dns.TypeA, 0, dns.RcodeNameError, 0, false, 512, false, false},
		{"ExternalName chased upstream", "udp", "ext.default.svc.cluster.local.", dns.TypeA, 0, 0, 2, false, 512, true, false},
		{"reverse of unknown IP forwarded", "udp", "1.2.0.192.in-addr.arpa.", dns.TypePTR, 0, dns.RcodeNameError, 0, false, 512, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(t, f.addr, tt.proto, tt.qname, tt.qtype, tt.edns)
			r.Compress = true
			packed, _ := r.Pack()
			if r.Rcode != tt.rcode || r.Truncated != tt.truncated || r.Authoritative != tt.aa || (r.IsEdns0() != nil) != tt.opt {
				t.Errorf("rcode=%d tc=%v aa=%v opt=%v; want %d %v %v %v", r.Rcode, r.Truncated, r.Authoritative, r.IsEdns0() != nil, tt.rcode, tt.truncated, tt.aa, tt.opt)
			}
			if tt.answers >= 0 && len(r.Answer) != tt.answers {
				t.Errorf("%d answers, want %d", len(r.Answer), tt.answers)
			}
			if tt.maxLen > 0 && len(packed) > tt.maxLen {
				t.Errorf("response is %d bytes, over %d", len(packed), tt.maxLen)
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				if !r.Truncated && (len(r.Ns) == 0 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
					t.Errorf("negative answer without SOA: %v", r.Ns)
				}
			}
			if !r.RecursionAvailable {
				t.Error("RA not set")
			}
		})
	}
	if got := f.up.Load(); got != 3 {
		t.Errorf("upstream got %d queries, want 3 (example.com once, nx, reverse; the rest hit the cache)", got)
	}
}

func TestMalformedQueries(t *testing.T) {
	f := start(t)
	c := &dns.Client{Timeout: 2 * time.Second}
	tests := []struct {
		name  string
		msg   func() *dns.Msg
		rcode int
	}{
		{"no question", func() *dns.Msg { m := new(dns.Msg); m.Id = dns.Id(); return m }, dns.RcodeFormatError},
		{"two questions", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("a.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, dns.RcodeFormatError},
		{"notify opcode", func() *dns.Msg { m := new(dns.Msg); m.SetNotify("cluster.local."); return m }, dns.RcodeNotImplemented},
		{"chaos class", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		}, dns.RcodeRefused},
		{"EDNS version 1", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, dns.RcodeBadVers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, err := c.Exchange(tt.msg(), f.addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
		})
	}
}

func TestConcurrentQueries(t *testing.T) {
	f := start(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Go(func() {
			c := &dns.Client{Timeout: 2 * time.Second}
			if w%2 == 1 {
				c.Net = "tcp"
			}
			for i := range 50 {
				name := "web.default.svc.cluster.local."
				if i%3 == 0 {
					name = "example.com."
				}
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				r, _, err := c.Exchange(m, f.addr)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					errs <- fmt.Errorf("worker %d query %d: %v %v", w, i, err, r)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoopDetection(t *testing.T) {
	z, _ := zone.New("cluster.local", 5, zone.PodsVerified)
	var self atomic.Value
	looper, _ := startUpstream(t, func() string { return self.Load().(string) })
	good, _ := startUpstream(t, nil)
	fwd, err := forward.New(forward.Options{Upstreams: []string{looper, good}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen("127.0.0.1:0", &Handler{Zone: z, Forwarder: fwd, MaxUDPSize: 1232, ForwardTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	self.Store(s.Addr.String())

	looping := fwd.DetectLoops(context.Background())
	if len(looping) != 1 || looping[0] != looper {
		t.Fatalf("looping upstreams %v, want [%s]", looping, looper)
	}
	if !fwd.Upstreams()[0].Looping() || fwd.Upstreams()[1].Looping() {
		t.Fatal("wrong upstream marked looping")
	}
	// Queries now go to the good upstream only.
	if r := exchange(t, s.Addr.String(), "udp", "example.com.", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("after loop detection: %v", r)
	}
}

// BenchmarkServeUDP sends queries over loopback UDP, one at a time, and
// reports the allocations per query of the whole path (miekg/dns' server,
// the handler, the zone or the cache): what makes the heap grow under load.
func BenchmarkServeUDP(b *testing.B) {
	for _, bc := range []struct{ name, qname string }{
		{"cluster", "web.default.svc.cluster.local."},
		{"cluster-nxdomain", "web.default.svc.cluster.local.default.svc.cluster.local."},
		{"external-cached", "example.com."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := start(b)
			q := new(dns.Msg)
			q.SetQuestion(bc.qname, dns.TypeA)
			q.SetEdns0(1232, false)
			wire, err := q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			conn, err := net.Dial("udp", f.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			buf := make([]byte, 4096)
			roundTrip := func() {
				if _, err := conn.Write(wire); err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			roundTrip() // fills the cache for the external name
			b.ReportAllocs()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}
