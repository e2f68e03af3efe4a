package forward

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// errBadWire is returned when a packed message cannot be walked.
var errBadWire = errors.New("forward: malformed message")

const cacheShards = 64

// Cache holds upstream answers as packed messages, so that a hit is a copy
// and a few byte patches (ID, question case, TTLs) rather than a pack.
// It is bounded: a full shard evicts a random entry, as CoreDNS' cache does.
type Cache struct {
	seed     maphash.Seed
	perShard int
	maxTTL   time.Duration
	maxNeg   time.Duration
	now      func() time.Time
	shards   [cacheShards]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[cacheKey]*entry
}

type cacheKey struct {
	name  string
	qtype uint16
	do    bool
}

type entry struct {
	wire    []byte   // the answer, ID 0, without OPT
	ttlOffs []uint16 // offsets of every RR's TTL field
	ttls    []uint32 // their values when stored
	stored  time.Time
	expires time.Time
}

// NewCache returns a cache of about size entries (0 disables it) that
// keeps positive answers at most maxTTL and negative ones at most maxNeg.
func NewCache(size int, maxTTL, maxNeg time.Duration) *Cache {
	c := &Cache{seed: maphash.MakeSeed(), maxTTL: maxTTL, maxNeg: maxNeg, now: time.Now}
	if size > 0 {
		c.perShard = max(1, size/cacheShards)
	}
	for i := range c.shards {
		c.shards[i].m = map[cacheKey]*entry{}
	}
	return c
}

func (c *Cache) shard(k cacheKey) *shard {
	return &c.shards[maphash.String(c.seed, k.name)%cacheShards]
}

// Len counts the cached entries.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Get returns the cached answer to (lower-case qname, qtype, do) as wire
// bytes with TTLs counted down, ID id and the question name spelled as
// qnameWire (the client's case), or nil on a miss.
func (c *Cache) Get(qname string, qtype uint16, do bool, id uint16, qnameWire string) []byte {
	if c.perShard == 0 {
		return nil
	}
	k := cacheKey{qname, qtype, do}
	s := c.shard(k)
	s.mu.RLock()
	e := s.m[k]
	s.mu.RUnlock()
	if e == nil {
		return nil
	}
	now := c.now()
	if !now.Before(e.expires) {
		s.mu.Lock()
		if s.m[k] == e {
			delete(s.m, k)
		}
		s.mu.Unlock()
		return nil
	}
	out := make([]byte, len(e.wire), len(e.wire)+11) // room for an OPT
	copy(out, e.wire)
	binary.BigEndian.PutUint16(out, id)
	// The question name starts at 12 uncompressed; same length in any case.
	if len(qnameWire) > 0 && 12+len(qnameWire) <= len(out) {
		patchName(out[12:], qnameWire)
	}
	elapsed := uint32(now.Sub(e.stored) / time.Second)
	for i, off := range e.ttlOffs {
		ttl := e.ttls[i]
		if ttl > elapsed {
			ttl -= elapsed
		} else {
			ttl = 0
		}
		binary.BigEndian.PutUint32(out[off:], ttl)
	}
	return out
}

// patchName writes the labels of fqdn (presentation form) over the
// wire-form name at b, which has the same labels in another case. Names
// with escapes are left alone.
func patchName(b []byte, fqdn string) {
	if strings.IndexByte(fqdn, '\\') >= 0 {
		return
	}
	i, j := 0, 0
	for i < len(b) {
		l := int(b[i])
		if l == 0 || l&0xC0 != 0 || i+1+l > len(b) || j+l > len(fqdn) || (j+l < len(fqdn) && fqdn[j+l] != '.') {
			return
		}
		copy(b[i+1:i+1+l], fqdn[j:j+l])
		i += 1 + l
		j += l + 1
	}
}

// Set stores m, the answer to (qname, qtype, do), unless it should not be
// cached (errors, truncation, zero TTL).
func (c *Cache) Set(qname string, qtype uint16, do bool, m *dns.Msg) {
	if c.perShard == 0 || m.Truncated {
		return
	}
	ttl, ok := c.ttl(m)
	if !ok || ttl <= 0 {
		return
	}
	cp := m.Copy()
	cp.Id = 0
	cp.Extra = stripOPT(cp.Extra)
	cp.Compress = true
	wire, err := cp.Pack()
	if err != nil {
		return
	}
	offs, ttls, err := ttlOffsets(wire)
	if err != nil {
		return
	}
	now := c.now()
	e := &entry{wire: wire, ttlOffs: offs, ttls: ttls, stored: now, expires: now.Add(ttl)}
	k := cacheKey{qname, qtype, do}
	s := c.shard(k)
	s.mu.Lock()
	if _, exists := s.m[k]; !exists && len(s.m) >= c.perShard {
		for victim := range s.m {
			delete(s.m, victim)
			break
		}
	}
	s.m[k] = e
	s.mu.Unlock()
}

// ttl is how long m may be cached: the smallest TTL of its records, or
// for a negative answer the SOA's negative TTL (RFC 2308), capped.
func (c *Cache) ttl(m *dns.Msg) (time.Duration, bool) {
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return 0, false
	}
	if m.Rcode == dns.RcodeNameError || len(m.Answer) == 0 {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				t := min(soa.Minttl, soa.Hdr.Ttl)
				return min(time.Duration(t)*time.Second, c.maxNeg), true
			}
		}
		return 0, false // no SOA: RFC 2308 says do not cache
	}
	minTTL := ^uint32(0)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			minTTL = min(minTTL, rr.Header().Ttl)
		}
	}
	return min(time.Duration(minTTL)*time.Second, c.maxTTL), true
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

// ttlOffsets walks a packed message and returns where each RR's TTL is.
func ttlOffsets(w []byte) ([]uint16, []uint32, error) {
	if len(w) < 12 {
		return nil, nil, errBadWire
	}
	qd := int(binary.BigEndian.Uint16(w[4:]))
	rrs := int(binary.BigEndian.Uint16(w[6:])) + int(binary.BigEndian.Uint16(w[8:])) + int(binary.BigEndian.Uint16(w[10:]))
	off := 12
	var err error
	for range qd {
		if off, err = skipName(w, off); err != nil {
			return nil, nil, err
		}
		off += 4
	}
	offs := make([]uint16, 0, rrs)
	ttls := make([]uint32, 0, rrs)
	for range rrs {
		if off, err = skipName(w, off); err != nil {
			return nil, nil, err
		}
		if off+10 > len(w) {
			return nil, nil, errBadWire
		}
		offs = append(offs, uint16(off+4))
		ttls = append(ttls, binary.BigEndian.Uint32(w[off+4:]))
		off += 10 + int(binary.BigEndian.Uint16(w[off+8:]))
	}
	if off > len(w) {
		return nil, nil, errBadWire
	}
	return offs, ttls, nil
}

// skipName returns the offset after the (possibly compressed) name at off.
func skipName(w []byte, off int) (int, error) {
	for {
		if off >= len(w) {
			return 0, errBadWire
		}
		l := int(w[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xC0 == 0xC0:
			return off + 2, nil
		case l&0xC0 != 0:
			return 0, errBadWire
		default:
			off += 1 + l
		}
	}
}
