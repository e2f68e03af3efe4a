package zone

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Lookup answers qname (lower case, fully qualified) of type qtype into m,
// which the caller has prepared as a reply. It returns false when the name
// is not the zone's to answer: outside it, or a reverse name of no cluster
// IP (the caller forwards those). When the answer ends in a CNAME to a
// name outside the zone, chase is that name, for the caller to resolve.
func (z *Zone) Lookup(qname string, qtype uint16, m *dns.Msg) (ours bool, chase string) {
	if !inZone(qname, z.origin) {
		if isReverse(qname) {
			return z.reverse(qname, qtype, m), ""
		}
		return false, ""
	}
	m.Authoritative = true
	switch qname {
	case z.origin:
		switch qtype {
		case dns.TypeSOA:
			m.Answer = append(m.Answer, z.soa)
		case dns.TypeNS:
			m.Answer = append(m.Answer, z.ns)
		case dns.TypeANY:
			m.Answer = append(m.Answer, z.soa, z.ns)
		default:
			m.Ns = append(m.Ns, z.soa)
		}
		return true, ""
	case z.version:
		if qtype == dns.TypeTXT || qtype == dns.TypeANY {
			m.Answer = append(m.Answer, z.txt)
		} else {
			m.Ns = append(m.Ns, z.soa)
		}
		return true, ""
	case z.svcOrigin, z.podOrigin:
		m.Ns = append(m.Ns, z.soa)
		return true, ""
	}
	if strings.HasSuffix(qname, "."+z.podOrigin) {
		z.pod(qname, qtype, m)
		return true, ""
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	for range maxChase {
		rcode, target := dns.RcodeNameError, ""
		if strings.HasSuffix(qname, "."+z.svcOrigin) {
			rcode, target = z.service(qname, qtype, m)
		}
		switch {
		case target == "" && len(m.Answer) == 0:
			m.Rcode = rcode
			m.Ns = append(m.Ns, z.soa)
			return true, ""
		case target == "":
			return true, "" // an answer, or a CNAME to a name without records of qtype
		case !inZone(target, z.origin):
			return true, target
		}
		qname = target
	}
	return true, ""
}

// service answers a name under svc.<zone>: <svc>.<ns>, <endpoint>.<svc>.<ns>,
// _<port>._<proto>.<svc>.<ns>, or <ns> alone. It appends what it finds and
// returns the rcode of a negative answer (NXDOMAIN, or success for NODATA)
// and, for an ExternalName service, the CNAME target to follow.
func (z *Zone) service(qname string, qtype uint16, m *dns.Msg) (rcode int, cname string) {
	rest := qname[:len(qname)-len(z.svcOrigin)-1]
	nsStart := strings.LastIndexByte(rest, '.') + 1
	if nsStart == 0 {
		if z.namespaces[rest] > 0 {
			return dns.RcodeSuccess, ""
		}
		return dns.RcodeNameError, ""
	}
	svcStart := strings.LastIndexByte(rest[:nsStart-1], '.') + 1
	st := z.services[rest[svcStart:]]
	if st == nil || st.svc == nil {
		return dns.RcodeNameError, ""
	}
	s, base := st.svc, qname[svcStart:]
	if svcStart == 0 { // the service's own name
		switch {
		case s.ExternalName != "":
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: z.hdr(qname, dns.TypeCNAME), Target: s.ExternalName})
			if qtype == dns.TypeCNAME {
				return dns.RcodeSuccess, ""
			}
			return dns.RcodeSuccess, s.ExternalName
		case s.Headless:
			for _, ep := range st.eps {
				if matches(qtype, ep.addr) {
					m.Answer = append(m.Answer, z.addr(qname, ep.addr))
				}
			}
		default:
			for _, ip := range s.ClusterIPs {
				if matches(qtype, ip) {
					m.Answer = append(m.Answer, z.addr(qname, ip))
				}
			}
		}
		return dns.RcodeSuccess, ""
	}
	prefix := rest[:svcStart-1]
	first, second, two := strings.Cut(prefix, ".")
	if !two { // <endpoint>.<svc>.<ns>, or _<proto>.<svc>.<ns> (empty non-terminal)
		found := false
		for _, ep := range st.eps {
			if ep.label == first {
				found = true
				if matches(qtype, ep.addr) {
					m.Answer = append(m.Answer, z.addr(qname, ep.addr))
				}
			}
		}
		if found || (strings.HasPrefix(first, "_") && hasProtocol(st, first[1:])) {
			return dns.RcodeSuccess, ""
		}
		return dns.RcodeNameError, ""
	}
	if !strings.HasPrefix(first, "_") || !strings.HasPrefix(second, "_") || strings.Contains(second, ".") {
		return dns.RcodeNameError, ""
	}
	port, proto := first[1:], second[1:]
	found := false
	wantSRV := qtype == dns.TypeSRV || qtype == dns.TypeANY
	if !s.Headless && s.ExternalName == "" {
		for _, p := range s.Ports {
			if p.Name != port || p.Protocol != proto {
				continue
			}
			found = true
			if wantSRV {
				m.Answer = append(m.Answer, z.srv(qname, p.Port, base))
				for _, ip := range s.ClusterIPs {
					m.Extra = append(m.Extra, z.addr(base, ip))
				}
			}
		}
	}
	lastTarget := ""
	for _, ep := range st.eps {
		for _, p := range ep.ports {
			if p.Name != port || p.Protocol != proto {
				continue
			}
			found = true
			if !wantSRV {
				break
			}
			target := ep.label + "." + base
			if target != lastTarget { // a dual-stack endpoint: one SRV, two addresses
				m.Answer = append(m.Answer, z.srv(qname, p.Port, target))
				lastTarget = target
			}
			m.Extra = append(m.Extra, z.addr(target, ep.addr))
		}
	}
	if found {
		return dns.RcodeSuccess, ""
	}
	return dns.RcodeNameError, ""
}

// hasProtocol reports whether a service has a named port of protocol.
func hasProtocol(st *service, proto string) bool {
	if !st.svc.Headless {
		for _, p := range st.svc.Ports {
			if p.Protocol == proto {
				return true
			}
		}
	}
	for _, ep := range st.eps {
		for _, p := range ep.ports {
			if p.Protocol == proto {
				return true
			}
		}
	}
	return false
}

// reverse answers a PTR name of a ClusterIP or a headless endpoint. It
// returns false for other addresses (the caller forwards those).
func (z *Zone) reverse(qname string, qtype uint16, m *dns.Msg) bool {
	a, ok := parseReverse(qname)
	if !ok {
		return false
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	refs := z.ptrRefsLocked(a)
	if len(refs) == 0 {
		return false
	}
	m.Authoritative = true
	if qtype != dns.TypePTR && qtype != dns.TypeANY {
		m.Ns = append(m.Ns, z.soa)
		return true
	}
	for _, r := range refs {
		target := r.st.svc.Name + "." + r.st.svc.Namespace + "." + z.svcOrigin
		if r.label != "" {
			target = r.label + "." + target
		}
		m.Answer = append(m.Answer, &dns.PTR{Hdr: z.hdr(qname, dns.TypePTR), Ptr: target})
	}
	return true
}

// pod answers a-b-c-d.<ns>.pod.<zone>.
func (z *Zone) pod(qname string, qtype uint16, m *dns.Msg) {
	rest := qname[:len(qname)-len(z.podOrigin)-1]
	label, ns, ok := strings.Cut(rest, ".")
	if !ok {
		// <ns>.pod.<zone> exists while the namespace has pods
		z.mu.RLock()
		_, hasPods := z.podNS.id(rest)
		exists := z.podMode == PodsInsecure || hasPods
		z.mu.RUnlock()
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, z.soa)
		return
	}
	ip, valid := undashed(label)
	exists := valid && !strings.Contains(ns, ".")
	if exists {
		switch z.podMode {
		case PodsDisabled:
			exists = false
		case PodsVerified:
			z.mu.RLock()
			id, hasPods := z.podNS.id(ns)
			ref, ok := z.pods.get(ip)
			shared, _ := z.podsShared.get(ip)
			exists = hasPods && ok && (ref.ns == id || slices.ContainsFunc(shared, func(r podRef) bool { return r.ns == id }))
			z.mu.RUnlock()
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, z.soa)
		return
	}
	if matches(qtype, ip) {
		m.Answer = append(m.Answer, z.addr(qname, ip))
		return
	}
	m.Ns = append(m.Ns, z.soa)
}

func matches(qtype uint16, ip netip.Addr) bool {
	return qtype == dns.TypeANY || (qtype == dns.TypeA && ip.Is4()) || (qtype == dns.TypeAAAA && ip.Is6())
}

func (z *Zone) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: z.ttl}
}

// aRecord and aaaaRecord hold an address record and its address bytes in
// one allocation (the record's net.IP points into it).
type (
	aRecord struct {
		dns.A
		ip [4]byte
	}
	aaaaRecord struct {
		dns.AAAA
		ip [16]byte
	}
)

func (z *Zone) addr(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		r := &aRecord{A: dns.A{Hdr: z.hdr(name, dns.TypeA)}, ip: ip.As4()}
		r.A.A = r.ip[:]
		return &r.A
	}
	r := &aaaaRecord{AAAA: dns.AAAA{Hdr: z.hdr(name, dns.TypeAAAA)}, ip: ip.As16()}
	r.AAAA.AAAA = r.ip[:]
	return &r.AAAA
}

func (z *Zone) srv(name string, port int32, target string) dns.RR {
	return &dns.SRV{Hdr: z.hdr(name, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(port), Target: target}
}

func inZone(name, origin string) bool {
	return name == origin || (len(name) > len(origin) && name[len(name)-len(origin)-1] == '.' && strings.HasSuffix(name, origin))
}

func isReverse(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

// parseReverse turns a full in-addr.arpa or ip6.arpa name into its address.
func parseReverse(name string) (netip.Addr, bool) {
	if r, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		var b [4]byte
		for i := 3; i >= 0; i-- {
			label, next, more := strings.Cut(r, ".")
			if more != (i > 0) || label == "" || (len(label) > 1 && label[0] == '0') {
				return netip.Addr{}, false
			}
			n, err := strconv.Atoi(label)
			if err != nil || n < 0 || n > 255 {
				return netip.Addr{}, false
			}
			b[i], r = byte(n), next
		}
		return netip.AddrFrom4(b), true
	}
	if r, ok := strings.CutSuffix(name, ".ip6.arpa."); ok && len(r) == 63 {
		var b [16]byte
		for i := range 32 {
			if i < 31 && r[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", r[2*i])
			if v < 0 {
				return netip.Addr{}, false
			}
			n := 31 - i // nibble index, most significant first
			if n%2 == 0 {
				b[n/2] |= byte(v) << 4
			} else {
				b[n/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
