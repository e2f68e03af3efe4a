// Package nft programs the model of internal/model into the kernel: one
// table (ip drover, or ip6 drover) written over netlink with
// github.com/google/nftables, every sync in one atomic batch. A full sync
// rewrites every chain and map of the table; an incremental one touches only
// the changed Services' chains and map elements.
package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"drover.dev/proxy/internal/model"
)

// TableName is the one table drover owns in each family.
const TableName = "drover"

// MasqueradeMark is the packet mark bit that asks nat-postrouting to masquerade.
const MasqueradeMark uint32 = 0x4000

// Fixed chains, after Kubernetes' nftables proxier.
const (
	chainNatPrerouting  = "nat-prerouting"
	chainNatOutput      = "nat-output"
	chainNatPostrouting = "nat-postrouting"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainServices       = "services"
	chainMasquerading   = "masquerading"
	chainSvcEPCheck     = "service-endpoints-check"
	chainNPEPCheck      = "nodeport-endpoints-check"
	chainClusterIPCheck = "cluster-ips-check"
	setNodePortIPs      = "nodeport-ips"

	// elemChunk bounds elements per netlink message (attributes are 64 KiB at most).
	elemChunk = 128
	// sockBuf is the netlink socket buffer: every message of a batch is acked.
	sockBuf = 256 << 20
)

// ErrFamily is returned for an IP family other than IPv4 and IPv6.
var ErrFamily = errors.New("nft: unsupported IP family")

// Options configure a Syncer.
type Options struct {
	Family corev1.IPFamily
	// NetNSFd, if positive, is the network namespace to program (the
	// caller keeps it open); otherwise the process's own.
	NetNSFd int
	// ClusterCIDRs of Family: their sources are pods, never masqueraded to ClusterIPs.
	ClusterCIDRs []netip.Prefix
	// NodePortIPs limits NodePorts to these addresses; empty means every
	// local address but loopback.
	NodePortIPs []netip.Addr
}

// Stats count what is in the table after a sync.
type Stats struct {
	Chains, Rules, Elements, Services int
}

// Syncer owns one table. It is not safe for concurrent use.
type Syncer struct {
	opts    Options
	fam     family
	table   *nftables.Table
	conn    *nftables.Conn
	applied map[string]*model.Service
	sets    map[string]*nftables.Set
	stats   Stats
}

// New connects to nftables in the given namespace.
func New(o Options) (*Syncer, error) {
	var fam family
	switch o.Family {
	case corev1.IPv4Protocol:
		fam = ipv4
	case corev1.IPv6Protocol:
		fam = ipv6
	default:
		return nil, fmt.Errorf("%w: %q", ErrFamily, o.Family)
	}
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigBuffers)}
	if o.NetNSFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(o.NetNSFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nft: connect: %w", err)
	}
	s := &Syncer{opts: o, fam: fam, conn: c, applied: map[string]*model.Service{}}
	s.table = &nftables.Table{Name: TableName, Family: fam.table}
	s.defineSets()
	return s, nil
}

// bigBuffers lets one batch carry tens of thousands of messages and their acks.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, sockBuf); e != nil {
				serr = e
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Close releases the netlink socket; the table stays.
func (s *Syncer) Close() error { return s.conn.CloseLasting() }

// Stats returns the counts after the last successful sync.
func (s *Syncer) Stats() Stats { return s.stats }

func (s *Syncer) defineSets() {
	f := s.fam
	svcKey := nftables.MustConcatSetType(f.addrT, nftables.TypeInetProto, nftables.TypeInetService)
	portKey := nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	vmap := func(n string, k nftables.SetDatatype) *nftables.Set {
		return &nftables.Set{Table: s.table, Name: n, IsMap: true, KeyType: k, DataType: nftables.TypeVerdict, Concatenation: true}
	}
	s.sets = map[string]*nftables.Set{
		model.ServiceIPsMap:   vmap(model.ServiceIPsMap, svcKey),
		model.NoEndpointsMap:  vmap(model.NoEndpointsMap, svcKey),
		model.NodePortsMap:    vmap(model.NodePortsMap, portKey),
		model.NoEndpointNPMap: vmap(model.NoEndpointNPMap, portKey),
		model.ClusterIPsSet:   {Table: s.table, Name: model.ClusterIPsSet, KeyType: f.addrT},
		setNodePortIPs:        {Table: s.table, Name: setNodePortIPs, KeyType: f.addrT},
		model.HairpinSet: {Table: s.table, Name: model.HairpinSet, Concatenation: true,
			KeyType: nftables.MustConcatSetType(f.addrT, f.addrT, nftables.TypeInetProto, nftables.TypeInetService)},
	}
}

// Sync programs services. With full, services is the whole desired state
// and everything in the table is rewritten (repairing any drift); without,
// services holds only the changed ones, nil meaning deleted.
func (s *Syncer) Sync(services map[string]*model.Service, full bool) error {
	var err error
	if full {
		err = s.fullSync(services)
	} else {
		err = s.partialSync(services)
	}
	if err != nil {
		return err
	}
	s.countStats()
	return nil
}

func (s *Syncer) fullSync(services map[string]*model.Service) error {
	existingChains, existingSets, err := s.existing()
	if err != nil {
		return err
	}
	c := s.conn
	c.AddTable(s.table)
	s.writeBase(existingChains)
	desiredChains := map[string]bool{}
	desiredSets := map[string]bool{}
	var rules []model.Chain
	for _, svc := range services {
		if svc == nil {
			continue
		}
		for _, ch := range svc.Chains {
			desiredChains[ch.Name] = true
			s.ensureChain(ch.Name, existingChains[ch.Name])
			rules = append(rules, ch)
		}
		for _, a := range svc.AffinitySets {
			if desiredSets[a.Name] || existingSets[a.Name] {
				// Kept, not flushed: affinity survives a resync.
				desiredSets[a.Name] = true
				continue
			}
			desiredSets[a.Name] = true
			if err := c.AddSet(s.affinitySet(a), nil); err != nil {
				return fmt.Errorf("nft: affinity set: %w", err)
			}
		}
	}
	for _, set := range s.sets {
		if existingSets[set.Name] {
			c.FlushSet(set)
			continue
		}
		if err := c.AddSet(set, nil); err != nil {
			return fmt.Errorf("nft: set %s: %w", set.Name, err)
		}
	}
	if len(s.opts.NodePortIPs) > 0 {
		var elems []nftables.SetElement
		for _, ip := range s.opts.NodePortIPs {
			elems = append(elems, nftables.SetElement{Key: ip.AsSlice()})
		}
		if err := s.addElements(s.sets[setNodePortIPs], elems); err != nil {
			return err
		}
	}
	empty := &model.Service{}
	for _, svc := range services {
		if svc == nil {
			continue
		}
		if err := s.elements(empty, svc); err != nil {
			return err
		}
	}
	if err := s.writeBaseRules(); err != nil {
		return err
	}
	for _, ch := range rules {
		if err := s.writeRules(ch); err != nil {
			return err
		}
	}
	// Leftovers (services deleted while we were down, or drift).
	for name := range existingChains {
		if model.IsServiceChain(name) && !desiredChains[name] {
			c.FlushChain(&nftables.Chain{Table: s.table, Name: name})
		}
	}
	for name := range existingChains {
		if model.IsServiceChain(name) && !desiredChains[name] {
			c.DelChain(&nftables.Chain{Table: s.table, Name: name})
		}
	}
	for name := range existingSets {
		if model.IsAffinitySet(name) && !desiredSets[name] {
			c.DelSet(&nftables.Set{Table: s.table, Name: name})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: full sync: %w", err)
	}
	s.applied = map[string]*model.Service{}
	for k, svc := range services {
		if svc != nil {
			s.applied[k] = svc
		}
	}
	return nil
}

func (s *Syncer) partialSync(changed map[string]*model.Service) error {
	c := s.conn
	empty := &model.Service{}
	var newChains, changedChains []model.Chain
	var staleChains []string
	var staleSets []string
	for key, nw := range changed {
		old := s.applied[key]
		if old == nil {
			old = empty
		}
		if nw == nil {
			nw = empty
		}
		oldChains := map[string]model.Chain{}
		for _, ch := range old.Chains {
			oldChains[ch.Name] = ch
		}
		for _, ch := range nw.Chains {
			prev, ok := oldChains[ch.Name]
			delete(oldChains, ch.Name)
			switch {
			case !ok:
				newChains = append(newChains, ch)
			case !reflect.DeepEqual(prev, ch):
				changedChains = append(changedChains, ch)
			}
		}
		for name := range oldChains {
			staleChains = append(staleChains, name)
		}
		oldSets := map[model.AffinitySet]bool{}
		for _, a := range old.AffinitySets {
			oldSets[a] = true
		}
		for _, a := range nw.AffinitySets {
			if oldSets[a] {
				delete(oldSets, a)
				continue
			}
			if err := c.AddSet(s.affinitySet(a), nil); err != nil {
				return fmt.Errorf("nft: affinity set: %w", err)
			}
		}
		for a := range oldSets {
			staleSets = append(staleSets, a.Name)
		}
	}
	for _, ch := range newChains {
		s.ensureChain(ch.Name, false)
	}
	for _, ch := range changedChains {
		s.ensureChain(ch.Name, true)
	}
	for key, nw := range changed {
		old := s.applied[key]
		if old == nil {
			old = empty
		}
		if nw == nil {
			nw = empty
		}
		if err := s.elements(old, nw); err != nil {
			return err
		}
	}
	for _, ch := range append(newChains, changedChains...) {
		if err := s.writeRules(ch); err != nil {
			return err
		}
	}
	for _, name := range staleChains {
		c.FlushChain(&nftables.Chain{Table: s.table, Name: name})
	}
	for _, name := range staleChains {
		c.DelChain(&nftables.Chain{Table: s.table, Name: name})
	}
	for _, name := range staleSets {
		c.DelSet(&nftables.Set{Table: s.table, Name: name})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nft: sync: %w", err)
	}
	for key, nw := range changed {
		if nw == nil {
			delete(s.applied, key)
		} else {
			s.applied[key] = nw
		}
	}
	return nil
}

// existing lists the chains and sets of our table in the kernel.
func (s *Syncer) existing() (map[string]bool, map[string]bool, error) {
	chains := map[string]bool{}
	sets := map[string]bool{}
	all, err := s.conn.ListChainsOfTableFamily(s.fam.table)
	if err != nil {
		return nil, nil, fmt.Errorf("nft: list chains: %w", err)
	}
	for _, ch := range all {
		if ch.Table.Name == TableName {
			chains[ch.Name] = true
		}
	}
	if len(chains) == 0 {
		return chains, sets, nil // no table yet
	}
	ss, err := s.conn.GetSets(s.table)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return nil, nil, fmt.Errorf("nft: list sets: %w", err)
	}
	for _, set := range ss {
		sets[set.Name] = true
	}
	return chains, sets, nil
}

func (s *Syncer) ensureChain(name string, exists bool) {
	ch := &nftables.Chain{Table: s.table, Name: name}
	if exists {
		s.conn.FlushChain(ch)
		return
	}
	s.conn.AddChain(ch)
}

func (s *Syncer) affinitySet(a model.AffinitySet) *nftables.Set {
	return &nftables.Set{Table: s.table, Name: a.Name, KeyType: s.fam.addrT, Dynamic: true, HasTimeout: true, Timeout: a.Timeout}
}

// elements queues the map/set element changes from old to nw.
func (s *Syncer) elements(old, nw *model.Service) error {
	type change struct {
		set      *nftables.Set
		del, add []nftables.SetElement
	}
	var changes []change
	svcMap := func(name string, o, n map[model.Key]model.Verdict) {
		ch := change{set: s.sets[name]}
		for k, v := range o {
			if nv, ok := n[k]; !ok || nv != v {
				ch.del = append(ch.del, nftables.SetElement{Key: s.svcKey(k)})
			}
		}
		for k, v := range n {
			if ov, ok := o[k]; !ok || ov != v {
				ch.add = append(ch.add, nftables.SetElement{Key: s.svcKey(k), VerdictData: verdict(v)})
			}
		}
		changes = append(changes, ch)
	}
	portMap := func(name string, o, n map[model.PortKey]model.Verdict) {
		ch := change{set: s.sets[name]}
		for k, v := range o {
			if nv, ok := n[k]; !ok || nv != v {
				ch.del = append(ch.del, nftables.SetElement{Key: portKeyBytes(k)})
			}
		}
		for k, v := range n {
			if ov, ok := o[k]; !ok || ov != v {
				ch.add = append(ch.add, nftables.SetElement{Key: portKeyBytes(k), VerdictData: verdict(v)})
			}
		}
		changes = append(changes, ch)
	}
	svcMap(model.ServiceIPsMap, old.ServiceIPs, nw.ServiceIPs)
	svcMap(model.NoEndpointsMap, old.NoEndpoints, nw.NoEndpoints)
	portMap(model.NodePortsMap, old.NodePorts, nw.NodePorts)
	portMap(model.NoEndpointNPMap, old.NoEndpointNodePorts, nw.NoEndpointNodePorts)
	ips := change{set: s.sets[model.ClusterIPsSet]}
	ips.del, ips.add = diffKeys(old.ClusterIPs, nw.ClusterIPs, func(a netip.Addr) []byte { return a.AsSlice() })
	hp := change{set: s.sets[model.HairpinSet]}
	hp.del, hp.add = diffKeys(old.Hairpins, nw.Hairpins, s.hairpinKey)
	changes = append(changes, ips, hp)
	for _, ch := range changes {
		for i := 0; i < len(ch.del); i += elemChunk {
			if err := s.conn.SetDeleteElements(ch.set, ch.del[i:min(i+elemChunk, len(ch.del))]); err != nil {
				return fmt.Errorf("nft: delete elements of %s: %w", ch.set.Name, err)
			}
		}
	}
	for _, ch := range changes {
		if err := s.addElements(ch.set, ch.add); err != nil {
			return err
		}
	}
	return nil
}

func (s *Syncer) addElements(set *nftables.Set, elems []nftables.SetElement) error {
	for i := 0; i < len(elems); i += elemChunk {
		if err := s.conn.SetAddElements(set, elems[i:min(i+elemChunk, len(elems))]); err != nil {
			return fmt.Errorf("nft: add elements to %s: %w", set.Name, err)
		}
	}
	return nil
}

func diffKeys[T comparable](old, nw []T, key func(T) []byte) (del, add []nftables.SetElement) {
	in := map[T]bool{}
	for _, v := range nw {
		in[v] = true
	}
	was := map[T]bool{}
	for _, v := range old {
		was[v] = true
		if !in[v] {
			del = append(del, nftables.SetElement{Key: key(v)})
		}
	}
	for v := range in {
		if !was[v] {
			add = append(add, nftables.SetElement{Key: key(v)})
		}
	}
	return del, add
}

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

func verdict(v model.Verdict) *expr.Verdict {
	if v.Kind == model.Drop {
		return &expr.Verdict{Kind: expr.VerdictDrop}
	}
	return &expr.Verdict{Kind: expr.VerdictGoto, Chain: v.Chain}
}

// writeRules appends a per-service chain's rules.
func (s *Syncer) writeRules(ch model.Chain) error {
	chain := &nftables.Chain{Table: s.table, Name: ch.Name}
	for _, r := range ch.Rules {
		exprs, err := s.ruleExprs(r)
		if err != nil {
			return fmt.Errorf("nft: chain %s: %w", ch.Name, err)
		}
		s.conn.AddRule(&nftables.Rule{Table: s.table, Chain: chain, Exprs: exprs})
	}
	return nil
}

func (s *Syncer) ruleExprs(r model.Rule) ([]expr.Any, error) {
	f := s.fam
	var e []expr.Any
	if r.SaddrInSet != "" {
		e = append(e, f.loadSaddr(reg1), &expr.Lookup{SourceRegister: reg1, SetName: r.SaddrInSet})
	}
	if r.SaddrIn != nil {
		e = append(e, inPrefix(f.loadSaddr(reg1), *r.SaddrIn, false)...)
	}
	if r.FibSaddrLocal {
		e = append(e, fibLocal(true)...)
	}
	switch {
	case r.MarkMasq:
		e = append(e, jump(model.MarkMasqChain))
	case r.UpdateSet != "":
		e = append(e, f.loadSaddr(reg1), &expr.Dynset{SrcRegKey: reg1, SetName: r.UpdateSet, Operation: uint32(unix.NFT_DYNSET_OP_UPDATE)})
	case r.Goto != "":
		e = append(e, gotoChain(r.Goto))
	case len(r.NumgenGoto) > 0:
		elems := make([]nftables.SetElement, len(r.NumgenGoto))
		for i, c := range r.NumgenGoto {
			elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: c}}
		}
		set := &nftables.Set{Table: s.table, Anonymous: true, Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
		if err := s.conn.AddSet(set, elems); err != nil {
			return nil, err
		}
		e = append(e, &expr.Numgen{Register: reg1, Modulus: uint32(len(elems)), Type: unix.NFT_NG_RANDOM}, lookup(set, true))
	case len(r.DNAT) > 0:
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{protoNum(r.Proto)}})
		if len(r.DNAT) == 1 {
			e = append(e,
				&expr.Immediate{Register: reg1, Data: r.DNAT[0].Addr().AsSlice()},
				&expr.Immediate{Register: reg2, Data: port(r.DNAT[0].Port())},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: reg1, RegProtoMin: reg2})
			break
		}
		// One rule, any number of endpoints: numgen picks an index, an
		// anonymous map turns it into address . port.
		elems := make([]nftables.SetElement, len(r.DNAT))
		for i, d := range r.DNAT {
			elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
				Val: append(append([]byte{}, d.Addr().AsSlice()...), pad4(port(d.Port()))...)}
		}
		set := &nftables.Set{Table: s.table, Anonymous: true, Constant: true, IsMap: true,
			KeyType: nftables.TypeInteger, DataType: nftables.MustConcatSetType(f.addrT, nftables.TypeInetService)}
		if err := s.conn.AddSet(set, elems); err != nil {
			return nil, err
		}
		l := lookup(set, false)
		l.IsDestRegSet, l.DestRegister = true, reg1
		e = append(e,
			&expr.Numgen{Register: reg1, Modulus: uint32(len(elems)), Type: unix.NFT_NG_RANDOM}, l,
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: reg1, RegProtoMin: f.nextReg32()})
	default:
		return nil, fmt.Errorf("rule %+v has no action", r)
	}
	return e, nil
}

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

// writeBase creates (or empties) the hooked and fixed chains.
func (s *Syncer) writeBase(existing map[string]bool) {
	for _, b := range baseChains {
		ch := &nftables.Chain{Table: s.table, Name: b.name, Type: b.typ, Hooknum: b.hook, Priority: b.prio}
		s.conn.AddChain(ch)
		if existing[b.name] {
			s.conn.FlushChain(ch)
		}
	}
	for _, n := range fixedChains {
		s.ensureChain(n, existing[n])
	}
}

func (s *Syncer) writeBaseRules() error {
	f := s.fam
	add := func(chain string, e ...expr.Any) {
		s.conn.AddRule(&nftables.Rule{Table: s.table, Chain: &nftables.Chain{Table: s.table, Name: chain}, Exprs: e})
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
	return nil
}

// nodePortMatch selects the destinations that accept NodePorts.
func (s *Syncer) nodePortMatch() []expr.Any {
	if len(s.opts.NodePortIPs) > 0 {
		return []expr.Any{s.fam.loadDaddr(reg1), lookup(s.sets[setNodePortIPs], false)}
	}
	return append(fibLocal(false), inPrefix(s.fam.loadDaddr(reg1), s.fam.loop, true)...)
}

func (s *Syncer) countStats() {
	st := Stats{Chains: len(baseChains) + len(fixedChains), Rules: 22, Services: len(s.applied)}
	for _, svc := range s.applied {
		for _, ch := range svc.Chains {
			st.Chains++
			st.Rules += len(ch.Rules)
		}
		st.Elements += len(svc.ServiceIPs) + len(svc.NodePorts) + len(svc.NoEndpoints) +
			len(svc.NoEndpointNodePorts) + len(svc.ClusterIPs) + len(svc.Hairpins)
	}
	s.stats = st
}

// Cleanup deletes the table if it exists (--cleanup, tests).
func Cleanup(fam corev1.IPFamily, netnsFd int) error {
	f := ipv4
	if fam == corev1.IPv6Protocol {
		f = ipv6
	}
	var opts []nftables.ConnOption
	if netnsFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nft: connect: %w", err)
	}
	tables, err := c.ListTablesOfFamily(f.table)
	if err != nil {
		return fmt.Errorf("nft: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			c.DelTable(t)
			if err := c.Flush(); err != nil {
				return fmt.Errorf("nft: delete table: %w", err)
			}
		}
	}
	return nil
}

// TableExists reports whether our table is in the kernel (tests, cleanup).
func TableExists(fam corev1.IPFamily, netnsFd int) (bool, error) {
	f := ipv4
	if fam == corev1.IPv6Protocol {
		f = ipv6
	}
	var opts []nftables.ConnOption
	if netnsFd > 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, err
	}
	tables, err := c.ListTablesOfFamily(f.table)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		if t.Name == TableName {
			return true, nil
		}
	}
	return false, nil
}

var _ = time.Second
