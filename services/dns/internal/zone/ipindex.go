package zone

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// ipIndex maps addresses to values, IPv4 ones keyed by 4 bytes instead of
// netip.Addr's 24: with 50,000 pod IPs that is megabytes of map slots.
type ipIndex[V any] struct {
	v4 map[uint32]V
	v6 map[netip.Addr]V
}

func newIPIndex[V any]() ipIndex[V] {
	return ipIndex[V]{v4: map[uint32]V{}, v6: map[netip.Addr]V{}}
}

func v4key(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func (x *ipIndex[V]) get(a netip.Addr) (V, bool) {
	if a.Is4() {
		v, ok := x.v4[v4key(a)]
		return v, ok
	}
	v, ok := x.v6[a]
	return v, ok
}

func (x *ipIndex[V]) set(a netip.Addr, v V) {
	if a.Is4() {
		x.v4[v4key(a)] = v
	} else {
		x.v6[a] = v
	}
}

func (x *ipIndex[V]) delete(a netip.Addr) {
	if a.Is4() {
		delete(x.v4, v4key(a))
	} else {
		delete(x.v6, a)
	}
}

func (x *ipIndex[V]) len() int { return len(x.v4) + len(x.v6) }

// all yields every entry; the loop body may delete entries.
func (x *ipIndex[V]) all() iter.Seq2[netip.Addr, V] {
	return func(yield func(netip.Addr, V) bool) {
		for k, v := range x.v4 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], k)
			if !yield(netip.AddrFrom4(b), v) {
				return
			}
		}
		for k, v := range x.v6 {
			if !yield(k, v) {
				return
			}
		}
	}
}
