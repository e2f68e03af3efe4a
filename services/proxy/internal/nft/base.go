package nft

import (
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"drover.dev/proxy/internal/model"
)

// baseChain describes one hooked chain.
type baseChain struct {
	name string
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
}

var baseChains = []baseChain{
	{chainNatPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest},
	{chainNatOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest},
	{chainNatPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource},
	{chainFilterInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter},
	{chainFilterForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter},
	{chainFilterOutput, nftables.ChainTypeFilter, nftables.ChainHookOutput, nftables.ChainPriorityFilter},
}

var fixedChains = []string{chainServices, chainMasquerading, model.MarkMasqChain, chainSvcEPCheck, chainNPEPCheck, chainClusterIPCheck, model.RejectChain}

// isFixedChain reports whether name is one of the hooked or fixed chains.
func isFixedChain(name string) bool {
	for _, b := range baseChains {
		if b.name == name {
			return true
		}
	}
	return slices.Contains(fixedChains, name)
}

// writeBase creates the hooked and fixed chains in a new table.
func (s *Syncer) writeBase() {
	for i := range baseChains {
		s.b.addChain(baseChains[i].name, &baseChains[i])
	}
	for _, n := range fixedChains {
		s.b.addChain(n, nil)
	}
}

func (s *Syncer) writeBaseRules() error {
	f := s.fam
	s.baseRules = map[string]int{}
	var err error
	add := func(chain string, e ...expr.Any) {
		s.baseRules[chain]++
		if err == nil {
			err = s.b.addRule(chain, e)
		}
	}
	cat := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	one := func(e ...expr.Any) []expr.Any { return e }
	sets := s.sets

	add(chainNatPrerouting, jump(chainServices))
	add(chainNatOutput, jump(chainServices))
	add(chainNatPostrouting, jump(chainMasquerading))
	add(chainFilterInput, cat(ctStateNew(), one(jump(chainNPEPCheck)))...)
	if f.table == nftables.TableFamilyIPv4 && s.opts.NodePorts.LoopbackAllowed() {
		// route_localnet would let other hosts reach 127.0.0.1 services:
		// only DNATed traffic may arrive for loopback from outside it.
		add(chainFilterInput, cat(
			inPrefix(f.loadDaddr(reg1), f.loop, false),
			inPrefix(f.loadSaddr(reg1), f.loop, true),
			one(&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(ipsDNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
				&expr.Verdict{Kind: expr.VerdictDrop}))...)
	}
	for _, c := range []string{chainFilterInput, chainFilterForward, chainFilterOutput} {
		add(c, cat(ctStateNew(), one(jump(chainSvcEPCheck)))...)
	}
	for _, c := range []string{chainFilterForward, chainFilterOutput} {
		add(c, cat(ctStateNew(), one(jump(chainClusterIPCheck)))...)
	}

	// services: masquerade ClusterIP traffic that does not come from a pod,
	// then dispatch on destination, then NodePorts.
	masqOffCluster := one(f.loadDaddr(reg1), lookup(sets[model.ClusterIPsSet], false))
	for _, p := range s.opts.ClusterCIDRs {
		masqOffCluster = append(masqOffCluster, inPrefix(f.loadSaddr(reg1), p, true)...)
	}
	add(chainServices, append(masqOffCluster, jump(model.MarkMasqChain))...)
	add(chainServices, cat(f.destKey(), one(lookup(sets[model.ServiceIPsMap], true)))...)
	add(chainServices, cat(s.nodePortMatch(), portKey(), one(lookup(sets[model.NodePortsMap], true)))...)

	add(model.MarkMasqChain,
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^MasqueradeMark), Xor: binaryutil.NativeEndian.PutUint32(MasqueradeMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
	add(chainMasquerading,
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(MasqueradeMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^MasqueradeMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
		&expr.Masq{FullyRandom: true})
	// Hairpin: a pod reaching itself through its Service must see the
	// node as the source, or it would answer itself directly.
	r := f.nextReg32()
	add(chainMasquerading,
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		f.loadSaddr(reg1),
		f.loadDaddr(r),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: r + f.addrLen/4},
		&expr.Payload{DestRegister: r + f.addrLen/4 + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		lookup(sets[model.HairpinSet], false),
		&expr.Masq{FullyRandom: true})

	add(chainSvcEPCheck, cat(f.destKey(), one(lookup(sets[model.NoEndpointsMap], true)))...)
	add(chainNPEPCheck, cat(s.nodePortMatch(), portKey(), one(lookup(sets[model.NoEndpointNPMap], true)))...)
	add(chainClusterIPCheck, f.loadDaddr(reg1), lookup(sets[model.ClusterIPsSet], false),
		&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: f.rejectCode})
	add(model.RejectChain, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: f.rejectCode})
	return err
}

// nodePortMatch selects the destinations that accept NodePorts.
func (s *Syncer) nodePortMatch() []expr.Any {
	np := s.opts.NodePorts
	if np.Restricted {
		return []expr.Any{s.fam.loadDaddr(reg1), lookup(s.sets[setNodePortIPs], false)}
	}
	if np.Localhost {
		return fibLocal(false)
	}
	return append(fibLocal(false), inPrefix(s.fam.loadDaddr(reg1), s.fam.loop, true)...)
}
