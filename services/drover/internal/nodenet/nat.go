package nodenet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NATTable names the host's nftables table that masquerades what nodes and pods
// send beyond the cluster; one per bridge.
func (n *Network) NATTable() string { return "drover-" + n.cfg.Bridge }

// EnsureNAT lets nodes and their pods reach beyond the host (image registries, the
// host's upstream DNS): their traffic to anywhere but the node network and the
// pod network leaves with the host's address, as behind a datacentre's NAT
// gateway. It also turns on IPv4 forwarding on the host. Replaces the table
// atomically, so calling it again is safe.
func (n *Network) EnsureNAT(podNetwork netip.Prefix) error {
	if !podNetwork.Addr().Is4() {
		return fmt.Errorf("%w: pod network %s is not IPv4", ErrBadConfig, podNetwork)
	}
	podNetwork = podNetwork.Masked()
	if err := enableForwarding(); err != nil {
		return err
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nodenet: nftables: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: n.NATTable()}
	// Add, delete, add: one transaction that replaces whatever was there.
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	chain := conn.AddChain(&nftables.Chain{
		Name:     "postrouting",
		Table:    table,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	})
	for _, src := range []netip.Prefix{n.cfg.Network, podNetwork} {
		var exprs []expr.Any
		exprs = append(exprs, prefixMatch(12, src, expr.CmpOpEq)...)
		exprs = append(exprs, prefixMatch(16, n.cfg.Network, expr.CmpOpNeq)...)
		exprs = append(exprs, prefixMatch(16, podNetwork, expr.CmpOpNeq)...)
		exprs = append(exprs, &expr.Masq{})
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nodenet: nftables table %s: %w", table.Name, err)
	}
	return nil
}

// TeardownNAT deletes the NAT table. Idempotent.
func (n *Network) TeardownNAT() error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nodenet: nftables: %w", err)
	}
	conn.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: n.NATTable()})
	if err := conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nodenet: delete nftables table %s: %w", n.NATTable(), err)
	}
	return nil
}

// prefixMatch compares the IPv4 address at offset of the network header (12:
// source, 16: destination) with p.
func prefixMatch(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	bits := make([]byte, 4)
	for i := range p.Bits() {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	addr := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: bits, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: addr[:]},
	}
}

// enableForwarding turns on IPv4 forwarding, as any router (or container
// engine) needs; it is left on, since other software may rely on it too.
func enableForwarding() error {
	const key = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(key); err == nil && string(b) == "1\n" {
		return nil
	}
	if err := os.WriteFile(key, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("nodenet: enable IPv4 forwarding: %w", err)
	}
	return nil
}
