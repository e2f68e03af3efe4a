package nft

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Registers: 1 is the 16-byte NFT_REG_1; 8.. are its 32-bit slices, used
// for concatenations (ip . proto . port).
const (
	reg1     = 1
	reg2     = 2
	reg32_00 = 8
	rtnLocal = 2 // RTN_LOCAL
	ipsDNAT  = 0x20
)

// family holds what differs between the ip and ip6 tables.
type family struct {
	table   nftables.TableFamily
	nfproto uint32
	addrLen uint32
	saddr   uint32 // offsets in the network header
	daddr   uint32
	addrT   nftables.SetDatatype
	loop    netip.Prefix
	// rejectCode is ICMP(v6) port unreachable.
	rejectCode uint8
}

var (
	ipv4 = family{nftables.TableFamilyIPv4, unix.NFPROTO_IPV4, 4, 12, 16, nftables.TypeIPAddr, netip.MustParsePrefix("127.0.0.0/8"), 3}
	ipv6 = family{nftables.TableFamilyIPv6, unix.NFPROTO_IPV6, 16, 8, 24, nftables.TypeIP6Addr, netip.MustParsePrefix("::1/128"), 4}
)

func (f family) loadSaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen}
}

func (f family) loadDaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen}
}

// nextReg32 is the 32-bit register after an address loaded in reg 1.
func (f family) nextReg32() uint32 { return reg32_00 + f.addrLen/4 }

// destKey loads ip daddr . meta l4proto . th dport into reg 1.
func (f family) destKey() []expr.Any {
	r := f.nextReg32()
	return []expr.Any{
		f.loadDaddr(reg1),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r},
		&expr.Payload{DestRegister: r + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// portKey loads meta l4proto . th dport into reg 1.
func portKey() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32_00},
		&expr.Payload{DestRegister: reg32_00 + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// inPrefix matches reg 1 (loaded by load) against p; neq inverts.
func inPrefix(load expr.Any, p netip.Prefix, neq bool) []expr.Any {
	n := uint32(p.Addr().BitLen() / 8)
	mask := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	op := expr.CmpOpEq
	if neq {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		load,
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: op, Register: reg1, Data: p.Masked().Addr().AsSlice()},
	}
}

func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func fibLocal(saddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagSADDR: saddr, FlagDADDR: !saddr, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(rtnLocal)},
	}
}

func lookup(s *nftables.Set, verdict bool) *expr.Lookup {
	l := &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID}
	if verdict {
		l.IsDestRegSet, l.DestRegister = true, 0
	}
	return l
}

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }
func gotoChain(chain string) expr.Any {
	return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}
}

func protoNum(p corev1.Protocol) byte {
	switch p {
	case corev1.ProtocolUDP:
		return unix.IPPROTO_UDP
	case corev1.ProtocolSCTP:
		return unix.IPPROTO_SCTP
	default:
		return unix.IPPROTO_TCP
	}
}

// pad4 pads b to a multiple of 4 bytes, as concatenated keys are.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func port(p uint16) []byte { return binaryutil.BigEndian.PutUint16(p) }
