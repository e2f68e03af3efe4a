// Package server is drover-dns' DNS front end: the query handler that
// routes each question to the cluster zone or the forwarder, and the UDP
// and TCP listeners (miekg/dns).
package server

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"drover.dev/dns/internal/forward"
	"drover.dev/dns/internal/metrics"
	"drover.dev/dns/internal/zone"
)

// Handler answers queries.
type Handler struct {
	Zone *zone.Zone
	// Forwarder resolves other names; nil refuses them.
	Forwarder *forward.Forwarder
	Metrics   *metrics.Metrics
	Logger    *zap.Logger
	// MaxUDPSize caps the EDNS0 buffer size honoured over UDP and is the
	// size this server advertises.
	MaxUDPSize uint16
	// ForwardTimeout bounds forwarding one query over all upstreams.
	ForwardTimeout time.Duration
}

// Per-query garbage is what makes the heap grow under load, so replies
// (with their OPT record) and pack buffers are reused.
var (
	bufPool   = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	replyPool = sync.Pool{New: func() any { return new(reply) }}
)

// reply is a reply message and the storage of its OPT record: packing
// writes the extended rcode into the OPT, so it cannot be shared.
type reply struct {
	dns.Msg
	opt dns.OPT
}

// release returns a reply to the pool, keeping its sections' storage
// unless an unusually large answer grew it.
func (rp *reply) release() {
	const keep = 16
	m := &rp.Msg
	ans, ns, extra := m.Answer, m.Ns, m.Extra
	clear(ans)
	clear(ns)
	clear(extra)
	*rp = reply{}
	if cap(ans) <= keep && cap(ns) <= keep && cap(extra) <= keep {
		m.Answer, m.Ns, m.Extra = ans[:0], ns[:0], extra[:0]
	}
	replyPool.Put(rp)
}

// transport is a Handler bound to UDP or TCP.
type transport struct {
	h   *Handler
	udp bool
}

func (t transport) ServeDNS(w dns.ResponseWriter, r *dns.Msg) { t.h.serve(w, r, t.udp) }

func (h *Handler) serve(w dns.ResponseWriter, r *dns.Msg, udp bool) {
	start := time.Now()
	proto := "tcp"
	if udp {
		proto = "udp"
	}
	rp := replyPool.Get().(*reply)
	defer rp.release()
	m := &rp.Msg
	if len(r.Question) != 1 || r.Response {
		m.SetRcode(r, dns.RcodeFormatError)
		h.write(w, rp, m, nil, udp, 512, metrics.SourceError, start)
		return
	}
	q := r.Question[0]
	h.Metrics.Request(proto, q.Qtype)
	if r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeNotImplemented)
		h.write(w, rp, m, nil, udp, 512, metrics.SourceError, start)
		return
	}
	// SetReply, without allocating a question section: the request's is
	// the same.
	m.Id, m.Response, m.Opcode = r.Id, true, r.Opcode
	m.RecursionDesired, m.CheckingDisabled = r.RecursionDesired, r.CheckingDisabled
	m.Question = r.Question
	m.RecursionAvailable = true
	size := 512
	do := false
	opt := r.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			h.write(w, rp, m, opt, udp, 512, metrics.SourceError, start)
			return
		}
		size = max(512, min(int(opt.UDPSize()), int(h.MaxUDPSize)))
		do = opt.Do()
	}
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		h.write(w, rp, m, opt, udp, size, metrics.SourceError, start)
		return
	}
	qname := lower(q.Name)
	if forward.IsProbe(qname) {
		if h.Forwarder != nil {
			h.Forwarder.ObserveProbe(qname)
		}
		m.Rcode = dns.RcodeNameError
		h.write(w, rp, m, opt, udp, size, metrics.SourceError, start)
		return
	}
	if ours, chase := h.Zone.Lookup(qname, q.Qtype, m); ours {
		if chase != "" {
			h.chase(m, chase, q.Qtype, do)
		}
		h.write(w, rp, m, opt, udp, size, metrics.SourceZone, start)
		return
	}
	if h.Forwarder == nil {
		m.Rcode = dns.RcodeRefused
		h.write(w, rp, m, opt, udp, size, metrics.SourceError, start)
		return
	}
	if wire := h.Forwarder.Cached(qname, r, do); wire != nil {
		h.writeCached(w, wire, opt, udp, size, start)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.ForwardTimeout)
	defer cancel()
	resp, err := h.Forwarder.Exchange(ctx, qname, r, do)
	if err != nil {
		h.Logger.Debug("forwarding failed", zap.String("name", q.Name), zap.Error(err))
		m.Rcode = dns.RcodeServerFailure
		h.write(w, rp, m, opt, udp, size, metrics.SourceError, start)
		return
	}
	resp.Question = r.Question // the client's spelling
	resp.Extra = stripOPT(resp.Extra)
	resp.RecursionAvailable = true
	h.write(w, rp, resp, opt, udp, size, metrics.SourceForward, start)
}

// chase resolves an ExternalName service's target through the forwarder
// and appends its records, as a recursive server must for stub resolvers.
func (h *Handler) chase(m *dns.Msg, target string, qtype uint16, do bool) {
	if h.Forwarder == nil || qtype == dns.TypeCNAME {
		return
	}
	sub := new(dns.Msg)
	sub.SetQuestion(target, qtype)
	var resp *dns.Msg
	if wire := h.Forwarder.Cached(target, sub, do); wire != nil {
		resp = new(dns.Msg)
		if resp.Unpack(wire) != nil {
			return
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), h.ForwardTimeout)
		defer cancel()
		var err error
		if resp, err = h.Forwarder.Exchange(ctx, target, sub, do); err != nil {
			return
		}
	}
	m.Answer = append(m.Answer, resp.Answer...)
	if resp.Rcode == dns.RcodeNameError {
		m.Rcode = dns.RcodeNameError
	}
}

// write packs m, adds an OPT when the client sent one (stored in rp if
// set), truncates to size over UDP and sends it.
func (h *Handler) write(w dns.ResponseWriter, rp *reply, m *dns.Msg, opt *dns.OPT, udp bool, size int, source string, start time.Time) {
	if opt != nil {
		// rp's OPT storage is free whichever message is sent.
		var o *dns.OPT
		if rp != nil {
			o = &rp.opt
		} else {
			o = new(dns.OPT)
		}
		*o = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(h.MaxUDPSize)
		if opt.Do() {
			o.SetDo()
		}
		m.Extra = append(m.Extra, o)
	}
	// Compression costs a map of names per message: garbage that makes
	// the collector run more often under load. Answers that fit the
	// classic 512 bytes without it (almost all) are sent uncompressed.
	m.Compress = false
	m.Compress = m.Len() > 512
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	out, err := m.PackBuffer((*bp)[:cap(*bp)])
	if err == nil && udp && len(out) > size {
		m.Truncate(size)
		out, err = m.PackBuffer((*bp)[:cap(*bp)])
	}
	if err != nil {
		h.Logger.Warn("failed to pack response", zap.String("question", m.Question[0].String()), zap.Error(err))
		fail := new(dns.Msg)
		fail.SetRcode(m, dns.RcodeServerFailure)
		if out, err = fail.Pack(); err != nil {
			return
		}
	}
	if cap(out) <= 64*1024 {
		*bp = out[:0]
	}
	_, _ = w.Write(out)
	h.Metrics.Response(m.Rcode, source, time.Since(start))
}

// writeCached sends a cached answer, adding the OPT the client expects; an
// answer too big for the client's UDP size takes the slow path.
func (h *Handler) writeCached(w dns.ResponseWriter, wire []byte, opt *dns.OPT, udp bool, size int, start time.Time) {
	if opt != nil {
		wire = appendOPT(wire, h.MaxUDPSize, opt.Do())
	}
	rcode := int(wire[3] & 0x0F)
	if udp && len(wire) > size {
		m := new(dns.Msg)
		if err := m.Unpack(wire); err == nil {
			m.Truncate(size)
			h.write(w, nil, m, nil, udp, size, metrics.SourceCache, start)
			return
		}
	}
	_, _ = w.Write(wire)
	h.Metrics.Response(rcode, metrics.SourceCache, time.Since(start))
}

// appendOPT adds an EDNS0 OPT record to a packed message without one.
func appendOPT(wire []byte, size uint16, do bool) []byte {
	var ttl byte
	if do {
		ttl = 0x80
	}
	wire = append(wire, 0, 0, 41, byte(size>>8), byte(size), 0, 0, ttl, 0, 0, 0)
	ar := uint16(wire[10])<<8 | uint16(wire[11]) + 1
	wire[10], wire[11] = byte(ar>>8), byte(ar)
	return wire
}

func stripOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// lower is strings.ToLower without an allocation for names already in
// lower case (almost all of them).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
