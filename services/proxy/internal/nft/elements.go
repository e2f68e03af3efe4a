package nft

import (
	"encoding/binary"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"drover.dev/proxy/internal/model"
)

// Element values are kept as strings so that what Services want, what we
// programmed and what the kernel reports compare with ==.
const (
	valNone = ""   // plain set element
	valDrop = "d"  // verdict drop
	valGoto = "g:" // verdict goto <chain>
	valData = "v:" // data map value <bytes>
)

// claim is one map element a Service wants.
type claim struct{ set, key, val string }

// contribution is what one Service puts into the maps. Nearly every
// Service has a dozen claims or so: a slice, searched by scanning.
type contribution []claim

func (c *contribution) put(set, key, val string) {
	*c = append(*c, claim{set, key, val})
}

// finder looks claims up by set and key: by scanning small contributions,
// through a map built once for large ones (a Service with many endpoints).
type finder struct {
	c   contribution
	idx map[[2]string]string
}

func newFinder(c contribution) finder {
	f := finder{c: c}
	if len(c) > 32 {
		f.idx = make(map[[2]string]string, len(c))
		for _, cl := range c {
			f.idx[[2]string{cl.set, cl.key}] = cl.val
		}
	}
	return f
}

func (f finder) get(set, key string) (string, bool) {
	if f.idx != nil {
		v, ok := f.idx[[2]string{set, key}]
		return v, ok
	}
	for _, cl := range f.c {
		if cl.key == key && cl.set == set {
			return cl.val, true
		}
	}
	return "", false
}

func verdictVal(v model.Verdict) string {
	if v.Kind == model.Drop {
		return valDrop
	}
	return valGoto + v.Chain
}

// elementTable tracks, for every map element, which Services want it and
// with what value, and what the kernel holds. Two Services may claim the
// same key (an externalIP or a ClusterIP given twice): the kernel holds
// the value of the first by name, and deleting one Service hands the key
// to the next instead of removing it.
type elementTable struct {
	sets  map[string]map[string]slot // set → key → slot
	count int                        // elements in the kernel
}

// slot is one key: its claims and its value in the kernel.
type slot struct {
	claims   ownerSet
	kval     string
	inKernel bool
	// pending is 1 + the index of this key's change in the batch being
	// built (0: none), so that two Services' claims on one key make one
	// change, not two adds of the same key.
	pending int32
}

// ownerSet holds the claims on one key; nearly always exactly one, kept
// inline so that a table of 100,000 elements is not 100,000 maps.
type ownerSet struct {
	svc, val string
	more     map[string]string
}

func (o *ownerSet) set(svc, val string) {
	switch {
	case o.svc == "" || o.svc == svc:
		o.svc, o.val = svc, val
	default:
		if o.more == nil {
			o.more = map[string]string{}
		}
		o.more[svc] = val
	}
}

func (o *ownerSet) remove(svc string) {
	if o.svc != svc {
		delete(o.more, svc)
		return
	}
	o.svc, o.val = "", ""
	for n, v := range o.more {
		if o.svc == "" || n < o.svc {
			o.svc, o.val = n, v
		}
	}
	delete(o.more, o.svc)
}

// winner is the value of the first claim by name (deterministic).
func (o *ownerSet) winner() (string, bool) {
	if o.svc == "" {
		return "", false
	}
	svc, val := o.svc, o.val
	for n, v := range o.more {
		if n < svc {
			svc, val = n, v
		}
	}
	return val, true
}

func newElementTable() *elementTable {
	return &elementTable{sets: map[string]map[string]slot{}}
}

// reserve sizes the map of set for n more keys (a fresh table is filled
// in one go; growing the maps step by step cost more than filling them).
func (t *elementTable) reserve(set string, n int) {
	if _, ok := t.sets[set]; !ok {
		t.sets[set] = make(map[string]slot, n)
	}
}

// elemChange is one element to delete and/or add.
type elemChange struct {
	set, key string
	del, add bool
	val      string
}

// update replaces service's contribution old by nw and appends the kernel
// changes to out; the kernel view is updated by commit once the batch
// went in.
func (t *elementTable) update(out []elemChange, service string, old, nw contribution) []elemChange {
	touch := func(set, key, val string, claimed bool) {
		keys := t.sets[set]
		if keys == nil {
			keys = map[string]slot{}
			t.sets[set] = keys
		}
		sl := keys[key]
		if claimed {
			sl.claims.set(service, val)
		} else {
			sl.claims.remove(service)
		}
		want, wanted := sl.claims.winner()
		switch {
		case sl.pending > 0:
			ch := &out[sl.pending-1]
			ch.add, ch.val = wanted, want
		case wanted != sl.inKernel || want != sl.kval:
			out = append(out, elemChange{set: set, key: key, del: sl.inKernel, add: wanted, val: want})
			sl.pending = int32(len(out))
		}
		if sl.claims.svc == "" && !sl.inKernel && sl.pending == 0 {
			delete(keys, key)
		} else {
			keys[key] = sl
		}
	}
	nf, of := newFinder(nw), newFinder(old)
	for _, cl := range old {
		if _, still := nf.get(cl.set, cl.key); !still {
			touch(cl.set, cl.key, "", false)
		}
	}
	for _, cl := range nw {
		if ov, ok := of.get(cl.set, cl.key); ok && ov == cl.val {
			continue // unchanged claim
		}
		touch(cl.set, cl.key, cl.val, true)
	}
	return out
}

// commit records changes as programmed.
func (t *elementTable) commit(changes []elemChange) {
	for _, c := range changes {
		keys := t.sets[c.set]
		sl := keys[c.key]
		if sl.inKernel {
			t.count--
		}
		if c.add {
			t.count++
		}
		sl.kval, sl.inKernel, sl.pending = c.val, c.add, 0
		if !sl.inKernel && sl.claims.svc == "" {
			delete(keys, c.key)
		} else {
			keys[c.key] = sl
		}
	}
}

// Keys, in the byte layout of the kernel registers they are matched from:
// each field padded to 4 bytes, ports in network order. They are built in
// a stack buffer so that each costs one allocation, its string.

func appendAddr(b []byte, ip netip.Addr) []byte {
	if ip.Is4() {
		a := ip.As4()
		return append(b, a[:]...)
	}
	a := ip.As16()
	return append(b, a[:]...)
}

func appendProtoPort(b []byte, p corev1.Protocol, port uint16) []byte {
	b = append(b, protoNum(p), 0, 0, 0)
	return append(binary.BigEndian.AppendUint16(b, port), 0, 0)
}

func svcKey(k model.Key) string {
	var buf [24]byte
	return string(appendProtoPort(appendAddr(buf[:0], k.IP), k.Proto, k.Port))
}

func nodePortKey(k model.PortKey) string {
	var buf [8]byte
	return string(appendProtoPort(buf[:0], k.Proto, k.Port))
}

func hairpinKey(h model.Hairpin) string {
	var buf [40]byte
	return string(appendProtoPort(appendAddr(appendAddr(buf[:0], h.IP), h.IP), h.Proto, h.Port))
}

func addrKey(ip netip.Addr) string {
	var buf [16]byte
	return string(appendAddr(buf[:0], ip))
}

// groupKey is group-id . index, both host-order u32 as immediate and
// numgen write them.
func groupKey(id uint32, i int) string {
	var buf [8]byte
	return string(binary.NativeEndian.AppendUint32(binary.NativeEndian.AppendUint32(buf[:0], id), uint32(i)))
}

func addrPortVal(ap netip.AddrPort) string {
	var buf [26]byte
	b := append(buf[:0], valData...)
	b = appendAddr(b, ap.Addr())
	return string(append(binary.BigEndian.AppendUint16(b, ap.Port()), 0, 0))
}
