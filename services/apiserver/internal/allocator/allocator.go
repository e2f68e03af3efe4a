// Package allocator hands out Service cluster IPs and node ports. Each
// allocation is an etcd key written in the same transaction as the Service
// and guarded by "key does not exist", so concurrent creates on any number
// of apiserver replicas can never share an IP or a port.
package allocator

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of the allocator.
var (
	// ErrNotInRange means a requested IP or port lies outside the configured range.
	ErrNotInRange = errors.New("allocator: not in range")
)

// Allocator knows the ranges and the key layout of allocations.
type Allocator struct {
	prefix   string
	ipNet    netip.Prefix
	ipSize   int64 // usable addresses (without network and broadcast)
	portBase int
	portSize int
}

// New parses the service CIDR (e.g. 10.96.0.0/12) and node port range (e.g. 30000-32767).
func New(keyPrefix, serviceCIDR, nodePortRange string) (*Allocator, error) {
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return nil, fmt.Errorf("allocator: service CIDR: %w", err)
	}
	p = p.Masked()
	bits := p.Addr().BitLen() - p.Bits()
	if bits < 2 || bits > 62 {
		return nil, fmt.Errorf("allocator: service CIDR %s has an unusable size", serviceCIDR)
	}
	lo, hi, ok := strings.Cut(nodePortRange, "-")
	if !ok {
		return nil, fmt.Errorf("allocator: node port range %q is not <from>-<to>", nodePortRange)
	}
	from, err1 := strconv.Atoi(strings.TrimSpace(lo))
	to, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
		return nil, fmt.Errorf("allocator: invalid node port range %q", nodePortRange)
	}
	return &Allocator{
		prefix:   strings.TrimSuffix(keyPrefix, "/"),
		ipNet:    p,
		ipSize:   int64(1)<<bits - 2,
		portBase: from,
		portSize: to - from + 1,
	}, nil
}

// ServiceCIDR is the configured range.
func (a *Allocator) ServiceCIDR() netip.Prefix { return a.ipNet }

// NodePortRange is the configured port range as "from-to".
func (a *Allocator) NodePortRange() string {
	return fmt.Sprintf("%d-%d", a.portBase, a.portBase+a.portSize-1)
}

// FirstIP is the first usable address, reserved for the kubernetes Service.
func (a *Allocator) FirstIP() string { return a.nth(1) }

func (a *Allocator) nth(n int64) string {
	base := new(big.Int).SetBytes(a.ipNet.Addr().AsSlice())
	base.Add(base, big.NewInt(n))
	b := base.Bytes()
	size := a.ipNet.Addr().BitLen() / 8
	buf := make([]byte, size)
	copy(buf[size-len(b):], b)
	return net.IP(buf).String()
}

// RandomIP picks a candidate address; the first one is left for the kubernetes Service.
func (a *Allocator) RandomIP() string {
	if a.ipSize <= 1 {
		return a.nth(1)
	}
	return a.nth(2 + rand.Int64N(a.ipSize-1))
}

// RandomPort picks a candidate node port.
func (a *Allocator) RandomPort() int32 { return int32(a.portBase + rand.IntN(a.portSize)) }

// CheckIP reports whether ip is a usable address of the range.
func (a *Allocator) CheckIP(ip string) error {
	addr, err := netip.ParseAddr(ip)
	last, _ := netip.ParseAddr(a.nth(a.ipSize + 1))
	if err != nil || !a.ipNet.Contains(addr) || addr == a.ipNet.Addr() || addr == last {
		return fmt.Errorf("%w: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ErrNotInRange, ip, a.ipNet)
	}
	return nil
}

// CheckPort reports whether port lies in the node port range.
func (a *Allocator) CheckPort(port int32) error {
	if int(port) < a.portBase || int(port) >= a.portBase+a.portSize {
		return fmt.Errorf("%w: provided port is not in the valid range. The range of valid ports is %s", ErrNotInRange, a.NodePortRange())
	}
	return nil
}

// IPKey is the etcd key recording an allocated cluster IP, in canonical
// form so that every spelling of an address claims the same key.
func (a *Allocator) IPKey(ip string) string {
	if addr, err := netip.ParseAddr(ip); err == nil {
		ip = addr.String()
	}
	return a.prefix + "/serviceips/" + ip
}

// PortKey is the etcd key recording an allocated node port (per protocol, as Kubernetes allows TCP and UDP to share a number).
func (a *Allocator) PortKey(port int32, protocol string) string {
	return a.prefix + "/servicenodeports/" + strings.ToLower(protocol) + "/" + strconv.Itoa(int(port))
}

// Claim returns the transaction operations that record allocations for owner.
func Claim(keys []string, owner string) []clientv3.Op {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpPut(k, owner)
	}
	return ops
}

// Release returns the operations that free allocations.
func Release(keys []string) []clientv3.Op {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpDelete(k)
	}
	return ops
}
