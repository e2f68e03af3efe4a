package forward

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// upstream is a real DNS server on loopback (UDP and TCP) that answers
// from a function and counts the queries it got.
type upstream struct {
	addr    string
	queries atomic.Int64
	udp     *dns.Server
	tcp     *dns.Server
}

func startUpstream(t *testing.T, answer func(q dns.Question, r *dns.Msg, tcp bool)) *upstream {
	t.Helper()
	// A free UDP port may be taken for TCP (other tests and processes
	// bind ports too): try a few.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: pc.LocalAddr().String()}
	handler := func(tcp bool) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			u.queries.Add(1)
			r := new(dns.Msg)
			r.SetReply(req)
			answer(req.Question[0], r, tcp)
			_ = w.WriteMsg(r)
		}
	}
	u.udp = &dns.Server{PacketConn: pc, Handler: handler(false)}
	u.tcp = &dns.Server{Listener: ln, Handler: handler(true)}
	var wg sync.WaitGroup
	for _, s := range []*dns.Server{u.udp, u.tcp} {
		wg.Add(1)
		s.NotifyStartedFunc = wg.Done
		go func() { _ = s.ActivateAndServe() }()
	}
	wg.Wait()
	t.Cleanup(func() { _ = u.udp.Shutdown(); _ = u.tcp.Shutdown() })
	return u
}

func soa(zone string, minttl uint32) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns: "ns." + zone, Mbox: "h." + zone, Serial: 1, Minttl: minttl}
}

// standard answers: example.com A (TTL 60), nx.example.com NXDOMAIN with
// SOA minimum 10, nosoa.example.com NXDOMAIN without SOA, big.example.com
// 100 A records (truncated over UDP).
func standard(q dns.Question, r *dns.Msg, tcp bool) {
	switch strings.ToLower(q.Name) {
	case "example.com.":
		r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
	case "nx.example.com.":
		r.Rcode = dns.RcodeNameError
		r.Ns = append(r.Ns, soa("example.com.", 10))
	case "nosoa.example.com.":
		r.Rcode = dns.RcodeNameError
	case "big.example.com.":
		if !tcp {
			r.Truncated = true
			return
		}
		for i := range 100 {
			r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
		}
	default:
		r.Rcode = dns.RcodeRefused
	}
}

func newForwarder(t *testing.T, cache *Cache, timeout time.Duration, ups ...string) *Forwarder {
	t.Helper()
	f, err := New(Options{Upstreams: ups, Timeout: timeout, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ask(t *testing.T, f *Forwarder, name string, qtype uint16) (*dns.Msg, bool) {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	lname := strings.ToLower(name)
	if w := f.Cached(lname, req, false); w != nil {
		m := new(dns.Msg)
		if err := m.Unpack(w); err != nil {
			t.Fatalf("cached answer does not unpack: %v", err)
		}
		if m.Id != req.Id || m.Question[0].Name != name {
			t.Fatalf("cached answer has id %d question %q, want %d %q", m.Id, m.Question[0].Name, req.Id, name)
		}
		return m, true
	}
	m, err := f.Exchange(context.Background(), lname, req, false)
	if err != nil {
		t.Fatalf("exchange %s: %v", name, err)
	}
	if m.Id != req.Id {
		t.Fatalf("id %d, want %d", m.Id, req.Id)
	}
	return m, false
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClockCache(size int) (*Cache, *clock) {
	c := NewCache(size, time.Hour, 30*time.Minute)
	clk := &clock{t: time.Unix(1_000_000, 0)}
	c.now = clk.now
	return c, clk
}

func TestCache(t *testing.T) {
	up := startUpstream(t, standard)
	cache, clk := newClockCache(1000)
	f := newForwarder(t, cache, time.Second, up.addr)

	steps := []struct {
		name      string
		advance   time.Duration
		qname     string
		wantCache bool
		wantRcode int
		wantTTL   uint32 // of the first answer, or of the SOA
		wantUp    int64  // upstream queries so far
	}{
		{"positive miss", 0, "example.com.", false, dns.RcodeSuccess, 60, 1},
		{"positive hit", 0, "example.com.", true, dns.RcodeSuccess, 60, 1},
		{"hit keeps the client's case", 0, "ExAmple.COM.", true, dns.RcodeSuccess, 60, 1},
		{"TTL counts down", 25 * time.Second, "example.com.", true, dns.RcodeSuccess, 35, 1},
		{"expired after TTL", 40 * time.Second, "example.com.", false, dns.RcodeSuccess, 60, 2},
		{"negative miss", 0, "nx.example.com.", false, dns.RcodeNameError, 3600, 3},
		{"negative hit within SOA minimum", 9 * time.Second, "nx.example.com.", true, dns.RcodeNameError, 3591, 3},
		{"negative expired after SOA minimum", 2 * time.Second, "nx.example.com.", false, dns.RcodeNameError, 3600, 4},
		{"NXDOMAIN without SOA not cached", 0, "nosoa.example.com.", false, dns.RcodeNameError, 0, 5},
		{"NXDOMAIN without SOA still not cached", 0, "nosoa.example.com.", false, dns.RcodeNameError, 0, 6},
		{"REFUSED not cached", 0, "other.test.", false, dns.RcodeRefused, 0, 7},
		{"REFUSED not cached again", 0, "other.test.", false, dns.RcodeRefused, 0, 8},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		m, cached := ask(t, f, st.qname, dns.TypeA)
		var ttl uint32
		if len(m.Answer) > 0 {
			ttl = m.Answer[0].Header().Ttl
		} else if len(m.Ns) > 0 {
			ttl = m.Ns[0].Header().Ttl
		}
		if cached != st.wantCache || m.Rcode != st.wantRcode || ttl != st.wantTTL || up.queries.Load() != st.wantUp {
			t.Errorf("%s: cached=%v rcode=%d ttl=%d upstream queries=%d; want %v %d %d %d",
				st.name, cached, m.Rcode, ttl, up.queries.Load(), st.wantCache, st.wantRcode, st.wantTTL, st.wantUp)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache(128, time.Hour, time.Hour)
	for i := range 5000 {
		m := new(dns.Msg)
		name := dns.Fqdn(strings.Repeat("a", i%50+1) + "." + string(rune('a'+i%26)) + ".test" + itoa(i))
		m.SetQuestion(name, dns.TypeA)
		m.Response = true
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		c.Set(name, dns.TypeA, false, m)
	}
	if n := c.Len(); n > 128 || n < 64 {
		t.Errorf("cache holds %d entries, want at most 128 (and not nearly empty)", n)
	}
	off := NewCache(0, time.Hour, time.Hour)
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	off.Set("x.test.", dns.TypeA, false, m)
	if off.Len() != 0 || off.Get("x.test.", dns.TypeA, false, 1, "x.test.") != nil {
		t.Error("a zero-size cache stored an entry")
	}
}

func itoa(i int) string {
	return string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	up := startUpstream(t, standard)
	f := newForwarder(t, nil, time.Second, up.addr)
	m, _ := ask(t, f, "big.example.com.", dns.TypeA)
	if len(m.Answer) != 100 || m.Truncated {
		t.Fatalf("got %d answers truncated=%v, want all 100 over TCP", len(m.Answer), m.Truncated)
	}
}

// deadUDP returns a loopback address nothing listens on (port unreachable).
func deadUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// silentUDP returns a loopback address that reads queries and never answers.
func silentUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestFailover(t *testing.T) {
	tests := []struct {
		name  string
		first func(t *testing.T) string
	}{
		{"first upstream refuses connections", deadUDP},
		{"first upstream times out", silentUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := startUpstream(t, standard)
			bad := tt.first(t)
			f := newForwarder(t, nil, time.Second, bad, good.addr)
			m, _ := ask(t, f, "example.com.", dns.TypeA)
			if len(m.Answer) != 1 {
				t.Fatalf("answer %v", m.Answer)
			}
			// The failed upstream is now tried last: the next query is fast.
			start := time.Now()
			ask(t, f, "example.com.", dns.TypeA)
			if took := time.Since(start); took > 900*time.Millisecond {
				t.Errorf("second query took %v: the failed upstream was tried first again", took)
			}
			if got := f.order()[0].Addr; got != good.addr {
				t.Errorf("first upstream now %s, want %s", got, good.addr)
			}
		})
	}
}

func TestSERVFAILTriesNext(t *testing.T) {
	broken := startUpstream(t, func(_ dns.Question, r *dns.Msg, _ bool) { r.Rcode = dns.RcodeServerFailure })
	good := startUpstream(t, standard)
	f := newForwarder(t, nil, time.Second, broken.addr, good.addr)
	if m, _ := ask(t, f, "example.com.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("got %v", m)
	}
	only := newForwarder(t, nil, time.Second, broken.addr)
	if m, _ := ask(t, only, "example.com.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("with only a failing upstream got rcode %d, want its SERVFAIL", m.Rcode)
	}
}

func TestAllUpstreamsDead(t *testing.T) {
	f := newForwarder(t, nil, 200*time.Millisecond, deadUDP(t), silentUDP(t))
	req := new(dns.Msg)
	req.SetQuestion("example.com.", dns.TypeA)
	if _, err := f.Exchange(context.Background(), "example.com.", req, false); err == nil {
		t.Fatal("exchange with dead upstreams succeeded")
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1:53"},
		{"10.0.0.1:5353", "10.0.0.1:5353"},
		{"fd00::1", "[fd00::1]:53"},
		{"[fd00::1]:54", "[fd00::1]:54"},
		{"dns.example", ""},
		{"10.0.0.1:0", ""},
		{"10.0.0.1:x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := ParseUpstream(tt.in)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("ParseUpstream(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestTTLOffsetsRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, make([]byte, 5), {0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 3, 'a'}} {
		if _, _, err := ttlOffsets(b); err == nil {
			t.Errorf("ttlOffsets(%v) accepted", b)
		}
	}
}
