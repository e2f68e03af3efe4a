package nft

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// dumpElements lists the elements of set on the batch socket and calls fn
// with each key and value in elements.go's encoding. The drift check of a
// periodic resync reads every element of the table; decoding them through
// github.com/google/nftables cost an allocation per attribute.
func (s *Syncer) dumpElements(set string, fn func(key, val []byte)) error {
	b := s.b
	b.buf, b.offs = b.buf[:0], b.offs[:0]
	b.begin(unix.NFT_MSG_GETSETELEM, unix.NLM_F_DUMP)
	b.attrStr(unix.NFTA_SET_ELEM_LIST_TABLE, b.table)
	b.attrStr(unix.NFTA_SET_ELEM_LIST_SET, set)
	b.end()
	raw, err := s.nl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("nft: dump %s: %w", set, serr)
	}
	if b.rbuf == nil {
		b.rbuf = make([]byte, 1<<16)
	}
	val := make([]byte, 0, 64)
	for {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), b.rbuf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if rerr != nil {
			return fmt.Errorf("nft: dump %s: %w", set, rerr)
		}
		for p := b.rbuf[:n]; len(p) >= nlmsgHdrLen; {
			l := int(binary.NativeEndian.Uint32(p))
			if l < nlmsgHdrLen || l > len(p) {
				return fmt.Errorf("nft: dump %s: malformed reply", set)
			}
			msg := p[:l]
			p = p[min((l+3)&^3, len(p)):]
			switch binary.NativeEndian.Uint16(msg[4:]) {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if code := int32(binary.NativeEndian.Uint32(msg[nlmsgHdrLen:])); code != 0 {
					return fmt.Errorf("nft: dump %s: %w", set, unix.Errno(-code))
				}
				continue
			}
			if len(msg) < nlmsgHdrLen+nfgenLen {
				continue
			}
			for typ, data := range attrs(msg[nlmsgHdrLen+nfgenLen:]) {
				if typ != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
					continue
				}
				for _, elem := range attrs(data) {
					var key []byte
					val = val[:0]
					for t, a := range attrs(elem) {
						switch t {
						case unix.NFTA_SET_ELEM_KEY:
							key = nested(a, unix.NFTA_DATA_VALUE)
						case unix.NFTA_SET_ELEM_DATA:
							val = appendValue(val, a)
						}
					}
					fn(key, val)
				}
			}
		}
	}
}

// appendValue appends the encoding of an NFTA_SET_ELEM_DATA payload.
func appendValue(val, data []byte) []byte {
	for t, a := range attrs(data) {
		switch t {
		case unix.NFTA_DATA_VALUE:
			return append(append(val, valData...), a...)
		case unix.NFTA_DATA_VERDICT:
			var code uint32
			var chain []byte
			for vt, v := range attrs(a) {
				switch {
				case vt == unix.NFTA_VERDICT_CODE && len(v) == 4:
					code = binary.BigEndian.Uint32(v)
				case vt == unix.NFTA_VERDICT_CHAIN && len(v) > 0:
					chain = v[:len(v)-1] // NUL-terminated
				}
			}
			switch code {
			case verdictDrop:
				return append(val, valDrop...)
			case verdictGoto:
				return append(append(val, valGoto...), chain...)
			}
			return fmt.Appendf(val, "?verdict %d %s", int32(code), chain)
		}
	}
	return val
}

// nested returns the payload of the first attribute of type typ in data.
func nested(data []byte, typ uint16) []byte {
	for t, a := range attrs(data) {
		if t == typ {
			return a
		}
	}
	return nil
}

// nlaTypeMask clears NLA_F_NESTED and NLA_F_NET_BYTEORDER from a type.
const nlaTypeMask = 0x3fff

// attrs iterates over netlink attributes: type (without flags), payload.
func attrs(b []byte) func(yield func(uint16, []byte) bool) {
	return func(yield func(uint16, []byte) bool) {
		for len(b) >= 4 {
			l := int(binary.NativeEndian.Uint16(b))
			if l < 4 || l > len(b) {
				return
			}
			if !yield(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:l]) {
				return
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}
