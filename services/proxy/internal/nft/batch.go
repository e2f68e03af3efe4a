package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batch encodes one nftables transaction straight into one reusable
// buffer and sends it with one sendmsg. github.com/google/nftables builds
// each message from attribute slices, asks the kernel to ack (and, for
// rules, echo) every message and reads each reply with its own buffer:
// with 10,000 Services that was ~20,000 acks, 40,000 syscalls and more
// allocation than the whole model. Here only the last message asks for an
// ack; the kernel reports failures whether asked or not, and it processes
// the batch inside sendmsg, so every reply is queued when sendmsg returns.
type batch struct {
	fam   byte
	table string
	buf   []byte
	// offs are the offsets of the messages in buf (by seq - 1), to name
	// the object of a failed message.
	offs  []int
	nests []int
	setID uint32
	rbuf  []byte
}

// ErrNoAck is returned when the kernel neither acked nor refused a batch.
var ErrNoAck = errors.New("nft: batch not acknowledged")

const (
	nlmsgHdrLen = 16
	nfgenLen    = 4
	// maxListLen bounds one nested element list: an attribute's length is 16 bits.
	maxListLen = 60 << 10
	// Verdict codes as the kernel reads them (NF_DROP, NFT_GOTO).
	verdictDrop = 0
	verdictGoto = 0xfffffffc
	// nftaSetFieldLen is NFTA_SET_FIELD_LEN (not in x/sys/unix).
	nftaSetFieldLen = 1
)

func newBatch(fam nftables.TableFamily, table string) *batch {
	return &batch{fam: byte(fam), table: table}
}

// reserve makes room for about n bytes (a whole table, written in one
// go, would otherwise grow the buffer many times).
func (b *batch) reserve(n int) {
	if cap(b.buf) < n {
		b.buf = make([]byte, 0, n)
	}
}

// retainLimit is the largest buffer kept between batches: only full
// writes of a big table exceed it, and those are rare.
const retainLimit = 4 << 20

// reset starts a new transaction.
func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.offs = b.offs[:0]
	b.nests = b.nests[:0]
	b.msg(unix.NFNL_MSG_BATCH_BEGIN, unix.NLM_F_REQUEST, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	b.end()
}

// empty reports whether no object message was queued since reset.
func (b *batch) empty() bool { return len(b.offs) <= 1 }

func (b *batch) msg(typ, flags uint16, fam byte, resID uint16) {
	b.offs = append(b.offs, len(b.buf))
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0) // length, set by end
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, flags)
	b.buf = binary.NativeEndian.AppendUint32(b.buf, uint32(len(b.offs))) // seq
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0)
	b.buf = append(b.buf, fam, unix.NFNETLINK_V0)
	b.buf = binary.BigEndian.AppendUint16(b.buf, resID)
}

// begin starts an nf_tables message of our table's family.
func (b *batch) begin(typ uint16, flags uint16) {
	b.msg(unix.NFNL_SUBSYS_NFTABLES<<8|typ, unix.NLM_F_REQUEST|flags, b.fam, 0)
}

// end sets the length of the last message.
func (b *batch) end() {
	off := b.offs[len(b.offs)-1]
	binary.NativeEndian.PutUint32(b.buf[off:], uint32(len(b.buf)-off))
}

func (b *batch) attr(typ uint16, data []byte) {
	b.buf = binary.NativeEndian.AppendUint16(b.buf, uint16(4+len(data)))
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = append(b.buf, data...)
	b.pad()
}

func (b *batch) attrStr(typ uint16, s string) {
	b.buf = binary.NativeEndian.AppendUint16(b.buf, uint16(4+len(s)+1))
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = append(b.buf, s...)
	b.buf = append(b.buf, 0)
	b.pad()
}

func (b *batch) attrU32(typ uint16, v uint32) {
	b.buf = binary.NativeEndian.AppendUint16(b.buf, 8)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = binary.BigEndian.AppendUint32(b.buf, v)
}

func (b *batch) attrU64(typ uint16, v uint64) {
	b.buf = binary.NativeEndian.AppendUint16(b.buf, 12)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = binary.BigEndian.AppendUint64(b.buf, v)
}

func (b *batch) pad() {
	for len(b.buf)%4 != 0 {
		b.buf = append(b.buf, 0)
	}
}

func (b *batch) nest(typ uint16) {
	b.nests = append(b.nests, len(b.buf))
	b.buf = binary.NativeEndian.AppendUint16(b.buf, 0)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, unix.NLA_F_NESTED|typ)
}

func (b *batch) endNest() {
	off := b.nests[len(b.nests)-1]
	b.nests = b.nests[:len(b.nests)-1]
	binary.NativeEndian.PutUint16(b.buf[off:], uint16(len(b.buf)-off))
}

// nestLen is the length of the innermost open nest so far.
func (b *batch) nestLen() int { return len(b.buf) - b.nests[len(b.nests)-1] }

func (b *batch) addTable() {
	b.begin(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE)
	b.attrStr(unix.NFTA_TABLE_NAME, b.table)
	b.attrU32(unix.NFTA_TABLE_FLAGS, 0)
	b.end()
}

func (b *batch) delTable() {
	b.begin(unix.NFT_MSG_DELTABLE, 0)
	b.attrStr(unix.NFTA_TABLE_NAME, b.table)
	b.end()
}

// addChain adds a regular chain, or a base chain when hook is set.
func (b *batch) addChain(name string, hook *baseChain) {
	b.begin(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE)
	b.attrStr(unix.NFTA_CHAIN_TABLE, b.table)
	b.attrStr(unix.NFTA_CHAIN_NAME, name)
	if hook != nil {
		b.nest(unix.NFTA_CHAIN_HOOK)
		b.attrU32(unix.NFTA_HOOK_HOOKNUM, uint32(*hook.hook))
		b.attrU32(unix.NFTA_HOOK_PRIORITY, uint32(*hook.prio))
		b.endNest()
		b.attrStr(unix.NFTA_CHAIN_TYPE, string(hook.typ))
	}
	b.end()
}

// flushChain deletes every rule of a chain.
func (b *batch) flushChain(name string) {
	b.begin(unix.NFT_MSG_DELRULE, 0)
	b.attrStr(unix.NFTA_RULE_TABLE, b.table)
	b.attrStr(unix.NFTA_RULE_CHAIN, name)
	b.end()
}

func (b *batch) delChain(name string) {
	b.begin(unix.NFT_MSG_DELCHAIN, 0)
	b.attrStr(unix.NFTA_CHAIN_TABLE, b.table)
	b.attrStr(unix.NFTA_CHAIN_NAME, name)
	b.end()
}

// addRule appends a rule to a chain.
func (b *batch) addRule(chain string, exprs []expr.Any) error {
	b.begin(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_APPEND)
	b.attrStr(unix.NFTA_RULE_TABLE, b.table)
	b.attrStr(unix.NFTA_RULE_CHAIN, chain)
	b.nest(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range exprs {
		data, err := expr.Marshal(b.fam, e)
		if err != nil {
			return fmt.Errorf("nft: rule in %s: %w", chain, err)
		}
		b.attr(unix.NLA_F_NESTED|unix.NFTA_LIST_ELEM, data)
	}
	b.endNest()
	b.end()
	return nil
}

// addSet creates a set or map (NFT_MSG_NEWSET as nft writes it).
func (b *batch) addSet(s *nftables.Set) {
	var flags uint32
	if s.IsMap {
		flags |= unix.NFT_SET_MAP
	}
	if s.HasTimeout {
		flags |= unix.NFT_SET_TIMEOUT
	}
	if s.Dynamic {
		flags |= unix.NFT_SET_EVAL
	}
	if s.Concatenation {
		flags |= nftables.NFT_SET_CONCAT
	}
	b.setID++
	b.begin(unix.NFT_MSG_NEWSET, unix.NLM_F_CREATE)
	b.attrStr(unix.NFTA_SET_TABLE, b.table)
	b.attrStr(unix.NFTA_SET_NAME, s.Name)
	b.attrU32(unix.NFTA_SET_FLAGS, flags)
	b.attrU32(unix.NFTA_SET_KEY_TYPE, s.KeyType.GetNFTMagic())
	b.attrU32(unix.NFTA_SET_KEY_LEN, s.KeyType.Bytes)
	b.attrU32(unix.NFTA_SET_ID, b.setID)
	if s.IsMap {
		if s.DataType.GetNFTMagic() == nftables.TypeVerdict.GetNFTMagic() {
			b.attrU32(unix.NFTA_SET_DATA_TYPE, unix.NFT_DATA_VERDICT)
		} else {
			b.attrU32(unix.NFTA_SET_DATA_TYPE, s.DataType.GetNFTMagic())
		}
		b.attrU32(unix.NFTA_SET_DATA_LEN, s.DataType.Bytes)
	}
	if s.HasTimeout && s.Timeout != 0 {
		b.attrU64(unix.NFTA_SET_TIMEOUT, uint64(s.Timeout/time.Millisecond))
	}
	if s.Concatenation {
		// The kernel needs each field's length to lay out the key.
		b.nest(unix.NFTA_SET_DESC)
		b.nest(nftables.NFTA_SET_DESC_CONCAT)
		for _, t := range nftables.ConcatSetTypeElements(s.KeyType) {
			b.nest(unix.NFTA_LIST_ELEM)
			b.attrU32(nftaSetFieldLen, t.Bytes)
			b.endNest()
		}
		b.endNest()
		b.endNest()
	}
	b.end()
}

func (b *batch) delSet(name string) {
	b.begin(unix.NFT_MSG_DELSET, 0)
	b.attrStr(unix.NFTA_SET_TABLE, b.table)
	b.attrStr(unix.NFTA_SET_NAME, name)
	b.end()
}

// elements writes set element messages for keys (with values, for add),
// as many per message as an attribute can hold.
type elementWriter struct {
	b    *batch
	set  string
	del  bool
	open bool
}

func (b *batch) elements(set string, del bool) elementWriter {
	return elementWriter{b: b, set: set, del: del}
}

func (w *elementWriter) start() {
	b := w.b
	if w.del {
		b.begin(unix.NFT_MSG_DELSETELEM, 0)
	} else {
		b.begin(unix.NFT_MSG_NEWSETELEM, unix.NLM_F_CREATE)
	}
	b.attrStr(unix.NFTA_SET_ELEM_LIST_TABLE, b.table)
	b.attrStr(unix.NFTA_SET_ELEM_LIST_SET, w.set)
	b.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	w.open = true
}

// add writes one element: key, and the value as elements.go encodes it.
func (w *elementWriter) add(key, val string) {
	b := w.b
	if w.open && b.nestLen() > maxListLen {
		w.close()
	}
	if !w.open {
		w.start()
	}
	b.nest(unix.NFTA_LIST_ELEM)
	b.nest(unix.NFTA_SET_ELEM_KEY)
	b.attrStr0(unix.NFTA_DATA_VALUE, key)
	b.endNest()
	if !w.del {
		switch {
		case val == valNone:
		case val == valDrop:
			b.nest(unix.NFTA_SET_ELEM_DATA)
			b.nest(unix.NFTA_DATA_VERDICT)
			b.attrU32(unix.NFTA_VERDICT_CODE, verdictDrop)
			b.endNest()
			b.endNest()
		case len(val) > len(valGoto) && val[:len(valGoto)] == valGoto:
			b.nest(unix.NFTA_SET_ELEM_DATA)
			b.nest(unix.NFTA_DATA_VERDICT)
			b.attrU32(unix.NFTA_VERDICT_CODE, verdictGoto)
			b.attrStr(unix.NFTA_VERDICT_CHAIN, val[len(valGoto):])
			b.endNest()
			b.endNest()
		default:
			b.nest(unix.NFTA_SET_ELEM_DATA)
			b.attrStr0(unix.NFTA_DATA_VALUE, val[len(valData):])
			b.endNest()
		}
	}
	b.endNest()
}

// close ends the open message, if any.
func (w *elementWriter) close() {
	if w.open {
		w.b.endNest()
		w.b.end()
		w.open = false
	}
}

// attrStr0 writes s as raw bytes (no terminating NUL).
func (b *batch) attrStr0(typ uint16, s string) {
	b.buf = binary.NativeEndian.AppendUint16(b.buf, uint16(4+len(s)))
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = append(b.buf, s...)
	b.pad()
}

// send ends the batch, sends it and reads the replies. It returns nil only
// when the kernel acked the last message and refused none.
func (b *batch) send(c *netlink.Conn) error {
	if b.empty() {
		return nil
	}
	defer func() {
		if cap(b.buf) > retainLimit {
			b.buf, b.offs = nil, nil
		}
	}()
	// Ack the last object message only.
	last := b.offs[len(b.offs)-1]
	flags := binary.NativeEndian.Uint16(b.buf[last+6:])
	binary.NativeEndian.PutUint16(b.buf[last+6:], flags|unix.NLM_F_ACK)
	lastSeq := uint32(len(b.offs))
	b.msg(unix.NFNL_MSG_BATCH_END, unix.NLM_F_REQUEST, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)
	b.end()

	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	werr := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if werr != nil {
		return werr
	}
	if serr != nil {
		return fmt.Errorf("nft: send batch of %d bytes: %w", len(b.buf), serr)
	}
	if b.rbuf == nil {
		b.rbuf = make([]byte, 1<<16)
	}
	var errs []error
	acked := false
	for {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), b.rbuf, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			return err
		}
		if rerr == unix.EAGAIN {
			break
		}
		if rerr != nil {
			return fmt.Errorf("nft: read replies: %w", rerr)
		}
		for p := b.rbuf[:n]; len(p) >= nlmsgHdrLen; {
			l := int(binary.NativeEndian.Uint32(p))
			if l < nlmsgHdrLen || l > len(p) {
				return fmt.Errorf("nft: malformed reply of %d bytes", l)
			}
			typ, seq := binary.NativeEndian.Uint16(p[4:]), binary.NativeEndian.Uint32(p[8:])
			if typ == unix.NLMSG_ERROR && l >= nlmsgHdrLen+4 {
				if code := int32(binary.NativeEndian.Uint32(p[nlmsgHdrLen:])); code != 0 {
					errs = append(errs, fmt.Errorf("%s: %w", b.describe(seq), unix.Errno(-code)))
				} else if seq == lastSeq {
					acked = true
				}
			}
			p = p[min((l+3)&^3, len(p)):]
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !acked {
		return ErrNoAck
	}
	return nil
}

// describe names the message with sequence number seq, for errors.
func (b *batch) describe(seq uint32) string {
	if seq == 0 || int(seq) > len(b.offs) {
		return fmt.Sprintf("message %d", seq)
	}
	off := b.offs[seq-1]
	typ := binary.NativeEndian.Uint16(b.buf[off+4:]) & 0xff
	kind := map[uint16]string{
		unix.NFT_MSG_NEWTABLE: "add table", unix.NFT_MSG_DELTABLE: "delete table",
		unix.NFT_MSG_NEWCHAIN: "add chain", unix.NFT_MSG_DELCHAIN: "delete chain",
		unix.NFT_MSG_NEWRULE: "add rule to", unix.NFT_MSG_DELRULE: "flush chain",
		unix.NFT_MSG_NEWSET: "add set", unix.NFT_MSG_DELSET: "delete set",
		unix.NFT_MSG_NEWSETELEM: "add elements to", unix.NFT_MSG_DELSETELEM: "delete elements of",
	}[typ]
	if kind == "" {
		kind = fmt.Sprintf("message type %d", typ)
	}
	// The object's name is the second attribute of every message we
	// write but the table's, which is the first.
	nameAt := 1
	if typ == unix.NFT_MSG_NEWTABLE || typ == unix.NFT_MSG_DELTABLE {
		nameAt = 0
	}
	end := off + int(binary.NativeEndian.Uint32(b.buf[off:]))
	p := off + nlmsgHdrLen + nfgenLen
	for i := 0; p+4 <= end; i++ {
		l := int(binary.NativeEndian.Uint16(b.buf[p:]))
		if l < 4 || p+l > end {
			break
		}
		if i == nameAt && l > 5 {
			return kind + " " + string(b.buf[p+4:p+l-1])
		}
		p += (l + 3) &^ 3
	}
	return kind
}
