// Package nft programs the model of internal/model into the kernel: one
// table (ip drover, or ip6 drover) written over netlink with
// github.com/google/nftables, every sync in one atomic batch.
//
// Layout. Endpoints live in maps, not in rules: each Service port's chain
// holds one rule that loads the port's group id, draws numgen random mod N
// beside it and looks up group-id . index in service-endpoints to DNAT
// (or, for ClientIP affinity, in service-endpoint-chains to go to the
// endpoint's chain). An endpoint change therefore edits a few map elements;
// only a change in the number of endpoints replaces that one rule. There
// are no anonymous sets: the kernel's set handling is linear in the number
// of sets of a table, which made one set per Service quadratic.
//
// The first sync of a Syncer writes the whole table atomically: a new
// table, or an existing one (a restarted proxy) rewritten in place so that
// ClientIP affinity entries survive. Later syncs, full or not, apply the
// difference from what was programmed. A full sync first compares the
// kernel with what was programmed (chains, sets, every map element, the
// fixed chains' rule counts) and rewrites the table when they differ,
// which repairs drift.
//
// Reads (dumps) go through github.com/google/nftables; writes are encoded
// by batch.go straight into one buffer, one sendmsg per sync.
package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"

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

	// Endpoint groups: group id . index → address . port in one of
	// endpointShards maps, or → goto endpoint chain (ClientIP affinity)
	// in one of chainShards maps, chosen by group id. Sharding bounds a
	// kernel cost that is the product of a map's elements and the rules
	// bound to it (adding an element checks every bound rule; binding a
	// rule walks every element), but every set costs a dump in the drift
	// check and lengthens the list the kernel walks to find a set by name.
	// 256 measured best for 10,000 Services (64: +35% kernel time of a
	// full write; 512: no better); affinity Services are few.
	mapServiceEndpoints = "service-endpoints-"
	mapEndpointChains   = "service-endpoint-chains-"
	endpointShards      = 256
	chainShards         = 16

	// sockBuf is the netlink socket buffer: a batch of a whole table is
	// tens of megabytes in one message.
	sockBuf = 256 << 20
)

// Errors.
var (
	// ErrFamily is returned for an IP family other than IPv4 and IPv6.
	ErrFamily = errors.New("nft: unsupported IP family")
	// ErrNeedFull is returned by an incremental sync after a failed one:
	// only a full sync knows the whole desired state to start over from.
	ErrNeedFull = errors.New("nft: a previous sync failed; a full sync is needed")
)

// Options configure a Syncer.
type Options struct {
	Family corev1.IPFamily
	// NetNSFd, if positive, is the network namespace to program (the
	// caller keeps it open); otherwise the process's own.
	NetNSFd int
	// ClusterCIDRs of Family: their sources are pods, never masqueraded to ClusterIPs.
	ClusterCIDRs []netip.Prefix
	// NodePorts selects the destination addresses that accept NodePorts.
	NodePorts NodePortAddrs
}

// NodePortAddrs says where NodePorts answer. The zero value means every
// local address but loopback (kube-proxy without --nodeport-addresses).
type NodePortAddrs struct {
	// Restricted limits NodePorts to IPs (which may be empty: then no
	// address accepts NodePorts).
	Restricted bool
	IPs        []netip.Addr
	// Localhost, when not Restricted, adds loopback addresses (the node's
	// own clients reaching 127.0.0.1:nodePort; needs route_localnet).
	Localhost bool
}

// LoopbackAllowed reports whether NodePorts answer on a loopback address,
// which needs net.ipv4.conf.all.route_localnet=1.
func (n NodePortAddrs) LoopbackAllowed() bool {
	if !n.Restricted {
		return n.Localhost
	}
	for _, ip := range n.IPs {
		if ip.IsLoopback() {
			return true
		}
	}
	return false
}

// Stats count what is in the table after a sync.
type Stats struct {
	Chains, Rules, Elements, Services int
}

// Syncer owns one table. It is not safe for concurrent use.
type Syncer struct {
	opts  Options
	fam   family
	table *nftables.Table
	// conn reads (dumps); nl and b write every sync as one batch.
	conn  *nftables.Conn
	nl    *netlink.Conn
	b     *batch
	sets  map[string]*nftables.Set
	stats Stats

	// What is programmed, valid while !broken.
	broken  bool
	applied map[string]*model.Service
	contrib map[string]contribution
	elems   *elementTable
	groups  map[string]uint32 // group (chain) name → id
	// chainGroups are the groups of endpoint chains (ClientIP affinity).
	chainGroups map[string]bool
	freeIDs     []uint32
	nextID      uint32
	baseRules   map[string]int // rules per fixed chain
	lastDrift   string
	// kept are the affinity sets an in-place rewrite keeps (during write).
	kept        map[string]bool
	lastReplace string
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
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: max(o.NetNSFd, 0)})
	if err != nil {
		_ = c.CloseLasting()
		return nil, fmt.Errorf("nft: connect: %w", err)
	}
	if err := bigBuffers(nl); err != nil {
		_ = c.CloseLasting()
		_ = nl.Close()
		return nil, fmt.Errorf("nft: socket buffers: %w", err)
	}
	// Failures are named from our copy of the batch: the kernel need not
	// echo the failed message.
	if err := nl.SetOption(netlink.CapAcknowledge, true); err != nil {
		_ = c.CloseLasting()
		_ = nl.Close()
		return nil, fmt.Errorf("nft: socket options: %w", err)
	}
	s := &Syncer{opts: o, fam: fam, conn: c, nl: nl, broken: true, b: newBatch(fam.table, TableName)}
	s.table = &nftables.Table{Name: TableName, Family: fam.table}
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
func (s *Syncer) Close() error {
	return errors.Join(s.conn.CloseLasting(), s.nl.Close())
}

// Stats returns the counts after the last successful sync.
func (s *Syncer) Stats() Stats { return s.stats }

func (s *Syncer) defineSets() {
	f := s.fam
	svcKey := nftables.MustConcatSetType(f.addrT, nftables.TypeInetProto, nftables.TypeInetService)
	portKey := nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	groupKey := nftables.MustConcatSetType(nftables.TypeInteger, nftables.TypeInteger)
	vmap := func(n string, k nftables.SetDatatype) *nftables.Set {
		return &nftables.Set{Table: s.table, Name: n, IsMap: true, KeyType: k, DataType: nftables.TypeVerdict, Concatenation: k != nftables.TypeInteger}
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
	for _, n := range endpointMaps {
		s.sets[n] = &nftables.Set{Table: s.table, Name: n, IsMap: true, Concatenation: true,
			KeyType: groupKey, DataType: nftables.MustConcatSetType(f.addrT, nftables.TypeInetService)}
	}
	for _, n := range chainMaps {
		s.sets[n] = vmap(n, groupKey)
	}
}

// setOrder lists the shared sets and maps in creation order.
func (s *Syncer) setOrder() []string {
	out := append(append([]string{}, endpointMaps...), chainMaps...)
	for _, n := range sortedKeys(s.sets) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Sync programs services. With full, services is the whole desired state;
// without, services holds only the changed ones, nil meaning deleted.
func (s *Syncer) Sync(services map[string]*model.Service, full bool) error {
	var err error
	switch {
	case full && !s.broken:
		err = s.resync(services)
	case full:
		s.lastDrift = ""
		err = s.replace(services)
	case s.broken:
		err = ErrNeedFull
	default:
		err = s.apply(services, false)
	}
	if err != nil {
		s.broken = true
		return err
	}
	s.countStats()
	return nil
}

// replace writes the whole table in one batch, so that no packet sees a
// half-written one. When the table exists (a restarted proxy, or drift),
// it is rewritten in place: every rule, map and Service chain goes and is
// written anew, but the ClientIP affinity sets that Services still want
// stay with their entries, as Kubernetes' nftables proxier keeps them
// across restarts. (An affinity set's name carries its Service, port,
// endpoint and timeout, so a kept set has the same meaning.) Should the
// in-place batch fail, the table is deleted and written anew.
func (s *Syncer) replace(services map[string]*model.Service) error {
	old, err := s.listTable()
	if err != nil {
		return err
	}
	s.lastReplace = ReplaceNew
	if old.exists {
		s.lastReplace = ReplaceInPlace
	}
	err = s.write(services, old, true)
	if err != nil && old.exists {
		if err2 := s.write(services, old, false); err2 == nil {
			s.lastReplace = ReplaceDeleted + ": " + err.Error()
			return nil
		}
	}
	return err
}

// How the last table write went (LastReplace).
const (
	ReplaceNew     = "new table"
	ReplaceInPlace = "rewritten in place"
	// ReplaceDeleted is followed by why the in-place rewrite failed.
	ReplaceDeleted = "deleted and written anew (affinity entries lost)"
)

// LastReplace says how the last whole-table write went: a new table, the
// existing one rewritten in place, or deleted and written anew because
// the in-place rewrite failed. "" before any.
func (s *Syncer) LastReplace() string { return s.lastReplace }

// tableObjects are the chains and sets of our table in the kernel.
type tableObjects struct {
	exists       bool
	chains, sets []string
}

func (s *Syncer) listTable() (tableObjects, error) {
	var t tableObjects
	var err error
	if t.exists, err = tableExists(s.conn, s.fam.table); err != nil || !t.exists {
		return t, err
	}
	chains, err := s.conn.ListChainsOfTableFamily(s.fam.table)
	if err != nil {
		return t, fmt.Errorf("nft: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			t.chains = append(t.chains, ch.Name)
		}
	}
	sets, err := s.conn.GetSets(s.table)
	if err != nil {
		return t, fmt.Errorf("nft: list sets: %w", err)
	}
	for _, set := range sets {
		t.sets = append(t.sets, set.Name)
	}
	return t, nil
}

// write queues the whole table and sends it. inPlace rewrites an existing
// table keeping the affinity sets services want; otherwise an existing
// table is deleted first.
func (s *Syncer) write(services map[string]*model.Service, old tableObjects, inPlace bool) error {
	s.applied = map[string]*model.Service{}
	s.contrib = map[string]contribution{}
	s.elems = newElementTable()
	s.groups = map[string]uint32{}
	s.chainGroups = map[string]bool{}
	s.freeIDs, s.nextID = nil, 1
	s.defineSets()
	s.kept = map[string]bool{}
	defer func() { s.kept = nil }()

	b := s.b
	b.reserve(len(services) * 1024)
	b.reset()
	switch {
	case old.exists && inPlace:
		s.clearTable(old, services)
	case old.exists:
		b.addTable()
		b.delTable()
		b.addTable()
	default:
		b.addTable()
	}
	s.writeBase()
	// The kernel finds a set by name by walking the table's sets in the
	// order they were created, for every rule that looks one up: the
	// endpoint maps, which every Service's rule uses, go first.
	for _, name := range s.setOrder() {
		b.addSet(s.sets[name])
	}
	if s.opts.NodePorts.Restricted {
		w := b.elements(setNodePortIPs, false)
		for _, ip := range s.opts.NodePorts.IPs {
			w.add(addrKey(ip), valNone)
		}
		w.close()
	}
	if err := s.writeBaseRules(); err != nil {
		return err
	}
	if err := s.apply(services, true); err != nil {
		return fmt.Errorf("nft: replace table: %w", err)
	}
	return nil
}

// clearTable queues the emptying of the existing table: rules of every
// chain, then every set but the affinity sets services still want, then
// the Service chains (nothing refers to them any more). The hooked and
// fixed chains stay, empty, so that the hooks are never unregistered.
// (Emptying the shared maps instead of replacing them measured slower:
// until the commit, the old rules' bindings stay on a map and the old
// elements in it, and every new element is checked against both.)
func (s *Syncer) clearTable(old tableObjects, services map[string]*model.Service) {
	want := map[string]bool{}
	for _, svc := range services {
		if svc != nil {
			for _, a := range svc.AffinitySets {
				want[a.Name] = true
			}
		}
	}
	for _, ch := range old.chains {
		s.b.flushChain(ch)
	}
	for _, set := range old.sets {
		if model.IsAffinitySet(set) && want[set] {
			s.kept[set] = true
			continue
		}
		s.b.delSet(set)
	}
	for _, ch := range old.chains {
		if !isFixedChain(ch) {
			s.b.delChain(ch)
		}
	}
}

// resync brings the table to services, which is the whole desired state:
// it checks the kernel against what was programmed (a mismatch replaces
// the table), then applies only the difference.
func (s *Syncer) resync(services map[string]*model.Service) error {
	drift, err := s.drift()
	if err != nil {
		return err
	}
	s.lastDrift = drift
	if drift != "" {
		return s.replace(services)
	}
	changed := make(map[string]*model.Service, len(services))
	for k, svc := range services {
		if old := s.applied[k]; old == nil || svc == nil || !reflect.DeepEqual(old, svc) {
			changed[k] = svc
		}
	}
	for k := range s.applied {
		if _, ok := services[k]; !ok {
			changed[k] = nil
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return s.apply(changed, false)
}

// LastDrift is why the last full sync replaced the table ("" when the
// kernel matched what was programmed), for logs and tests.
func (s *Syncer) LastDrift() string { return s.lastDrift }

// drift compares the kernel with what was programmed and says how they
// differ ("" when they match).
func (s *Syncer) drift() (string, error) {
	chains, err := s.conn.ListChainsOfTableFamily(s.fam.table)
	if err != nil {
		return "", fmt.Errorf("nft: list chains: %w", err)
	}
	have := map[string]bool{}
	for _, ch := range chains {
		if ch.Table.Name == TableName {
			have[ch.Name] = true
		}
	}
	want := map[string]bool{}
	for _, b := range baseChains {
		want[b.name] = true
	}
	for _, n := range fixedChains {
		want[n] = true
	}
	for _, svc := range s.applied {
		for _, ch := range svc.Chains {
			want[ch.Name] = true
		}
	}
	if len(have) != len(want) {
		return fmt.Sprintf("%d chains in the kernel, %d programmed", len(have), len(want)), nil
	}
	for n := range want {
		if !have[n] {
			return "chain " + n + " missing", nil
		}
	}
	for chain, n := range s.baseRules {
		rules, err := s.conn.GetRules(s.table, &nftables.Chain{Table: s.table, Name: chain})
		if err != nil {
			return "", fmt.Errorf("nft: list rules of %s: %w", chain, err)
		}
		if len(rules) != n {
			return fmt.Sprintf("chain %s has %d rules, want %d", chain, len(rules), n), nil
		}
	}
	sets, err := s.conn.GetSets(s.table)
	if err != nil {
		return "", fmt.Errorf("nft: list sets: %w", err)
	}
	haveSets := map[string]bool{}
	for _, set := range sets {
		haveSets[set.Name] = true
	}
	for _, svc := range s.applied {
		for _, a := range svc.AffinitySets {
			if !haveSets[a.Name] {
				return "set " + a.Name + " missing", nil
			}
		}
	}
	for name := range s.sets {
		if !haveSets[name] {
			return "set " + name + " missing", nil
		}
		if name == setNodePortIPs {
			continue
		}
		want := s.elems.sets[name]
		n, bad := 0, ""
		err := s.dumpElements(name, func(k, v []byte) {
			n++
			if sl, ok := want[string(k)]; bad == "" && (!ok || !sl.inKernel || sl.kval != string(v)) {
				bad = fmt.Sprintf("%s element %x is %q, want %q", name, k, v, sl.kval)
			}
		})
		if err != nil {
			return "", err
		}
		if bad != "" {
			return bad, nil
		}
		programmed := 0
		for _, sl := range want {
			if sl.inKernel {
				programmed++
			}
		}
		if n != programmed {
			return fmt.Sprintf("%s has %d elements, want %d", name, n, programmed), nil
		}
	}
	return "", nil
}

// apply queues the changes from what is programmed to changed (nil:
// deleted), then sends them in one batch. fresh means the batch also
// creates the table (replace).
func (s *Syncer) apply(changed map[string]*model.Service, fresh bool) error {
	b := s.b
	if !fresh {
		b.reset()
	}
	empty := &model.Service{}
	var newChains, changedChains []model.Chain
	var staleChains, staleSets []string
	newContrib := make(map[string]contribution, len(changed))
	// Contributions first: a fresh table sizes its element maps once.
	counts := map[string]int{}
	for key, nw := range changed {
		var nc contribution
		if nw != nil {
			nc = s.contribution(nw)
		}
		newContrib[key] = nc
		if fresh {
			for _, cl := range nc {
				counts[cl.set]++
			}
		}
	}
	for set, n := range counts {
		s.elems.reserve(set, n)
	}
	elemChanges := make([]elemChange, 0, 16*len(changed))
	var freed []string
	for key, nw := range changed {
		old := s.applied[key]
		if old == nil {
			old = empty
		}
		if nw == nil {
			nw = empty
		}
		for i := range nw.Chains {
			ch := &nw.Chains[i]
			prev := findChain(old.Chains, ch.Name)
			switch {
			case prev == nil:
				newChains = append(newChains, *ch)
			case !reflect.DeepEqual(*prev, *ch):
				changedChains = append(changedChains, *ch)
			}
		}
		for i := range old.Chains {
			if findChain(nw.Chains, old.Chains[i].Name) == nil {
				staleChains = append(staleChains, old.Chains[i].Name)
			}
		}
		for _, a := range nw.AffinitySets {
			if !slices.Contains(old.AffinitySets, a) && !s.kept[a.Name] {
				b.addSet(s.affinitySet(a))
			}
		}
		for _, a := range old.AffinitySets {
			if !slices.Contains(nw.AffinitySets, a) {
				staleSets = append(staleSets, a.Name)
			}
		}
		for _, g := range old.Groups {
			if !slices.ContainsFunc(nw.Groups, func(n model.Group) bool { return n.Name == g.Name }) {
				freed = append(freed, g.Name)
			}
		}
		elemChanges = s.elems.update(elemChanges, key, s.contrib[key], newContrib[key])
	}
	for _, ch := range newChains {
		b.addChain(ch.Name, nil)
	}
	for _, ch := range changedChains {
		b.flushChain(ch.Name)
	}
	// Rules before elements: binding a rule to a data map walks the map's
	// elements, so on a fresh table this keeps the walks empty.
	for _, ch := range append(newChains, changedChains...) {
		if err := s.writeRules(ch); err != nil {
			return err
		}
	}
	s.writeElements(elemChanges)
	for _, name := range staleChains {
		b.flushChain(name)
	}
	for _, name := range staleChains {
		b.delChain(name)
	}
	for _, name := range staleSets {
		b.delSet(name)
	}
	if err := b.send(s.nl); err != nil {
		if fresh {
			return err
		}
		return fmt.Errorf("nft: sync: %w", err)
	}
	s.elems.commit(elemChanges)
	for key, nw := range changed {
		if nw == nil {
			delete(s.applied, key)
			delete(s.contrib, key)
		} else {
			s.applied[key] = nw
			s.contrib[key] = newContrib[key]
		}
	}
	for _, g := range freed {
		if id, ok := s.groups[g]; ok {
			delete(s.groups, g)
			delete(s.chainGroups, g)
			s.freeIDs = append(s.freeIDs, id)
		}
	}
	s.broken = false
	return nil
}

// findChain returns the chain named name, nil if none. Services have a
// few chains (one per endpoint with affinity): a scan beats a map.
func findChain(chains []model.Chain, name string) *model.Chain {
	for i := range chains {
		if chains[i].Name == name {
			return &chains[i]
		}
	}
	return nil
}

// groupID returns the id of a group, allocating one for a new group. Ids
// are reused only after the group's removal was committed.
func (s *Syncer) groupID(name string) uint32 {
	if id, ok := s.groups[name]; ok {
		return id
	}
	var id uint32
	if n := len(s.freeIDs); n > 0 {
		id, s.freeIDs = s.freeIDs[n-1], s.freeIDs[:n-1]
	} else {
		id = s.nextID
		s.nextID++
	}
	s.groups[name] = id
	return id
}

// contribution lists the map elements of one Service.
func (s *Syncer) contribution(m *model.Service) contribution {
	c := make(contribution, 0, len(m.ServiceIPs)+len(m.NoEndpoints)+len(m.NodePorts)+len(m.NoEndpointNodePorts)+
		len(m.ClusterIPs)+len(m.Hairpins)+m.Endpoints+2)
	for k, v := range m.ServiceIPs {
		c.put(model.ServiceIPsMap, svcKey(k), verdictVal(v))
	}
	for k, v := range m.NoEndpoints {
		c.put(model.NoEndpointsMap, svcKey(k), verdictVal(v))
	}
	for k, v := range m.NodePorts {
		c.put(model.NodePortsMap, nodePortKey(k), verdictVal(v))
	}
	for k, v := range m.NoEndpointNodePorts {
		c.put(model.NoEndpointNPMap, nodePortKey(k), verdictVal(v))
	}
	for _, ip := range m.ClusterIPs {
		c.put(model.ClusterIPsSet, addrKey(ip), valNone)
	}
	for _, h := range m.Hairpins {
		c.put(model.HairpinSet, hairpinKey(h), valNone)
	}
	for _, g := range m.Groups {
		id := s.groupID(g.Name)
		s.chainGroups[g.Name] = len(g.Chains) > 0
		for i, ch := range g.Chains {
			c.put(chainMaps[id%chainShards], groupKey(id, i), valGoto+ch)
		}
		for i, ep := range g.Endpoints {
			c.put(endpointMaps[id%endpointShards], groupKey(id, i), addrPortVal(ep))
		}
	}
	return c
}

// writeElements queues element changes: every delete before any add, so a
// key that changes value is replaced within the batch.
func (s *Syncer) writeElements(changes []elemChange) {
	bySet := map[string][]int32{}
	for i, ch := range changes {
		bySet[ch.set] = append(bySet[ch.set], int32(i))
	}
	names := sortedKeys(bySet)
	for _, name := range names {
		w := s.b.elements(name, true)
		for _, i := range bySet[name] {
			if changes[i].del {
				w.add(changes[i].key, "")
			}
		}
		w.close()
	}
	for _, name := range names {
		w := s.b.elements(name, false)
		for _, i := range bySet[name] {
			if ch := &changes[i]; ch.add {
				w.add(ch.key, ch.val)
			}
		}
		w.close()
	}
}

func (s *Syncer) affinitySet(a model.AffinitySet) *nftables.Set {
	return &nftables.Set{Table: s.table, Name: a.Name, KeyType: s.fam.addrT, Dynamic: true, HasTimeout: true, Timeout: a.Timeout}
}

// writeRules appends a per-service chain's rules.
func (s *Syncer) writeRules(ch model.Chain) error {
	for _, r := range ch.Rules {
		exprs, err := s.ruleExprs(r)
		if err != nil {
			return fmt.Errorf("nft: chain %s: %w", ch.Name, err)
		}
		if err := s.b.addRule(ch.Name, exprs); err != nil {
			return err
		}
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
	case r.Pick != "":
		// group id in reg 8, numgen's index in reg 9: the 8-byte key of
		// the group maps. (The kernel refuses loads of registers not
		// written earlier in the same rule, so this cannot be split across
		// chains.)
		id, ok := s.groups[r.Pick]
		if !ok || r.PickOf <= 0 {
			return nil, fmt.Errorf("rule picks from unknown or empty group %q", r.Pick)
		}
		e = append(e,
			&expr.Immediate{Register: reg32_00, Data: binaryutil.NativeEndian.PutUint32(id)},
			&expr.Numgen{Register: reg32_00 + 1, Modulus: uint32(r.PickOf), Type: unix.NFT_NG_RANDOM})
		if s.chainGroups[r.Pick] {
			set := s.sets[chainMaps[id%chainShards]]
			e = append(e, &expr.Lookup{SourceRegister: reg32_00, SetName: set.Name, SetID: set.ID, IsDestRegSet: true, DestRegister: 0})
			break
		}
		set := s.sets[endpointMaps[id%endpointShards]]
		e = append(e,
			&expr.Lookup{SourceRegister: reg32_00, SetName: set.Name, SetID: set.ID, IsDestRegSet: true, DestRegister: reg32_00},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: reg32_00, RegProtoMin: f.nextReg32()})
	case r.DNAT.IsValid():
		e = append(e,
			&expr.Immediate{Register: reg1, Data: r.DNAT.Addr().AsSlice()},
			&expr.Immediate{Register: reg2, Data: port(r.DNAT.Port())},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: reg1, RegProtoMin: reg2})
	default:
		return nil, fmt.Errorf("rule %+v has no action", r)
	}
	return e, nil
}

func (s *Syncer) countStats() {
	st := Stats{Chains: len(baseChains) + len(fixedChains), Services: len(s.applied), Elements: s.elems.count}
	for _, n := range s.baseRules {
		st.Rules += n
	}
	for _, svc := range s.applied {
		for _, ch := range svc.Chains {
			st.Chains++
			st.Rules += len(ch.Rules)
		}
	}
	s.stats = st
}

// The endpoint maps of a group are endpointMaps[id%endpointShards] and
// chainMaps[id%chainShards] (names built once, not per element).
var endpointMaps, chainMaps = shardNames(mapServiceEndpoints), shardNames(mapEndpointChains)

func shardNames(prefix string) []string {
	out := make([]string, endpointShards)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func tableExists(c *nftables.Conn, fam nftables.TableFamily) (bool, error) {
	tables, err := c.ListTablesOfFamily(fam)
	if err != nil {
		return false, fmt.Errorf("nft: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			return true, nil
		}
	}
	return false, nil
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
