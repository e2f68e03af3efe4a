package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

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

// contribution is what one Service puts into the maps: set → key → value.
type contribution map[string]map[string]string

func (c contribution) put(set string, key []byte, val string) {
	m := c[set]
	if m == nil {
		m = map[string]string{}
		c[set] = m
	}
	m[string(key)] = val
}

func verdictVal(v model.Verdict) string {
	if v.Kind == model.Drop {
		return valDrop
	}
	return valGoto + v.Chain
}

// elementTable tracks, for every map element, which Services want it and
// with what value. Two Services may claim the same key (an externalIP or
// a ClusterIP given twice): the kernel holds the value of the first by
// name, and deleting one Service hands the key to the next instead of
// removing it.
type elementTable struct {
	owners map[string]map[string]ownerSet // set → key → claims
	kernel map[string]map[string]string   // set → key → value programmed
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
	return &elementTable{owners: map[string]map[string]ownerSet{}, kernel: map[string]map[string]string{}}
}

// elemChange is one element to delete and/or add.
type elemChange struct {
	set, key string
	del, add bool
	val      string
}

// update replaces service's contribution old by nw and returns the kernel
// changes; the kernel view is updated by commit once the batch went in.
func (t *elementTable) update(service string, old, nw contribution) []elemChange {
	var out []elemChange
	touch := func(set, key string) {
		keys := t.owners[set]
		if keys == nil {
			keys = map[string]ownerSet{}
			t.owners[set] = keys
		}
		o := keys[key]
		if v, ok := nw[set][key]; ok {
			o.set(service, v)
		} else {
			o.remove(service)
		}
		if o.svc == "" {
			delete(keys, key)
		} else {
			keys[key] = o
		}
		want, wanted := o.winner()
		have, had := t.kernel[set][key]
		if wanted == had && want == have {
			return
		}
		out = append(out, elemChange{set: set, key: key, del: had, add: wanted, val: want})
	}
	for set, keys := range old {
		for key := range keys {
			if _, still := nw[set][key]; !still {
				touch(set, key)
			}
		}
	}
	for set, keys := range nw {
		for key, v := range keys {
			if ov, ok := old[set][key]; ok && ov == v {
				continue // unchanged claim
			}
			touch(set, key)
		}
	}
	return out
}

// commit records changes as programmed.
func (t *elementTable) commit(changes []elemChange) {
	for _, c := range changes {
		m := t.kernel[c.set]
		if m == nil {
			m = map[string]string{}
			t.kernel[c.set] = m
		}
		if c.add {
			m[c.key] = c.val
		} else {
			delete(m, c.key)
		}
	}
}

// count is the number of elements programmed.
func (t *elementTable) count() int {
	n := 0
	for _, m := range t.kernel {
		n += len(m)
	}
	return n
}

// toElement turns a key and value into a netlink set element.
func toElement(key, val string) nftables.SetElement {
	e := nftables.SetElement{Key: []byte(key)}
	switch {
	case val == valNone:
	case val == valDrop:
		e.VerdictData = &expr.Verdict{Kind: expr.VerdictDrop}
	case len(val) > len(valGoto) && val[:len(valGoto)] == valGoto:
		e.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: val[len(valGoto):]}
	default:
		e.Val = []byte(val[len(valData):])
	}
	return e
}

// fromElement is toElement's inverse, for what the kernel reports. The
// library leaves some verdicts undecoded (nested attributes in Val).
func fromElement(e nftables.SetElement, verdictMap bool) (string, string) {
	if verdictMap && e.VerdictData == nil && len(e.Val) > 0 {
		if v, err := decodeVerdict(e.Val); err == nil {
			e.VerdictData, e.Val = v, nil
		}
	}
	switch {
	case e.VerdictData != nil && e.VerdictData.Kind == expr.VerdictDrop:
		return string(e.Key), valDrop
	case e.VerdictData != nil && e.VerdictData.Kind == expr.VerdictGoto:
		return string(e.Key), valGoto + e.VerdictData.Chain
	case e.VerdictData != nil:
		return string(e.Key), fmt.Sprintf("?verdict %d %s", e.VerdictData.Kind, e.VerdictData.Chain)
	case len(e.Val) > 0:
		return string(e.Key), valData + string(e.Val)
	}
	return string(e.Key), valNone
}

// Keys, in the byte layout of the kernel registers they are matched from.

func (s *Syncer) svcKey(k model.Key) []byte {
	b := append([]byte{}, k.IP.AsSlice()...)
	b = append(b, pad4([]byte{protoNum(k.Proto)})...)
	return append(b, pad4(port(k.Port))...)
}

func portKeyBytes(k model.PortKey) []byte {
	return append(pad4([]byte{protoNum(k.Proto)}), pad4(port(k.Port))...)
}

func (s *Syncer) hairpinKey(h model.Hairpin) []byte {
	b := append([]byte{}, h.IP.AsSlice()...)
	b = append(b, h.IP.AsSlice()...)
	b = append(b, pad4([]byte{protoNum(h.Proto)})...)
	return append(b, pad4(port(h.Port))...)
}

// groupKey is group-id . index, both host-order u32 as immediate and
// numgen write them.
func groupKey(id uint32, i int) []byte {
	return append(binaryutil.NativeEndian.PutUint32(id), binaryutil.NativeEndian.PutUint32(uint32(i))...)
}

func addrPortVal(ap netip.AddrPort) string {
	return valData + string(append(ap.Addr().AsSlice(), pad4(port(ap.Port()))...))
}

// decodeVerdict parses NFTA_VERDICT_CODE / NFTA_VERDICT_CHAIN attributes.
func decodeVerdict(b []byte) (*expr.Verdict, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	v := &expr.Verdict{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			v.Kind = expr.VerdictKind(int32(ad.Uint32()))
		case unix.NFTA_VERDICT_CHAIN:
			v.Chain = ad.String()
		}
	}
	return v, ad.Err()
}
