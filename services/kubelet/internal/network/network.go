// Package network wires pods into the node's network: an address from the
// node's pod CIDR and a routed veth pair per pod, Calico style. The pod side
// is eth0 with podIP/32 and a default route via a link-local gateway whose
// neighbour entry is the host veth's MAC (proxy ARP is on as well); the host
// routes podIP/32 to the veth.
// No bridge: pods reach each other and the node through the node's routing.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/keylock"
)

// GatewayIP is the pod's default gateway. It exists nowhere; the host veth
// answers ARP for it (proxy_arp), so every pod uses the same one.
var GatewayIP = net.IPv4(169, 254, 1, 1).To4()

// PodInterface is the pod side's name.
const PodInterface = "eth0"

// hostVethPrefix starts the host side's name: "drv" + 11 hex digits of a
// hash of the pod UID, within the kernel's 15 characters.
const hostVethPrefix = "drv"

// Config configures a Network.
type Config struct {
	// PodCIDR is the node's spec.podCIDR, e.g. "10.244.1.0/24".
	PodCIDR string
	// StateDir keeps address allocations across restarts.
	StateDir string
	// MTU of the veth pair; 1500 when 0.
	MTU    int
	Logger *zap.Logger
}

// Network sets up and tears down pod networking on this node.
type Network struct {
	cidr *net.IPNet
	mtu  int
	ipam *ipam
	lg   *zap.Logger
	// pods serializes set-up and tear-down per pod; pods differ in every
	// name they touch, and the address store has a lock of its own.
	pods keylock.Map
}

// New checks cfg and opens the allocation store.
func New(cfg Config) (*Network, error) {
	_, cidr, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("network: bad pod CIDR: %w", err)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("network: no state dir")
	}
	a, err := newIPAM(cfg.StateDir, cidr)
	if err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	mtu := cfg.MTU
	if mtu <= 0 {
		mtu = 1500
	}
	return &Network{cidr: cidr, mtu: mtu, ipam: a, lg: lg}, nil
}

// PodCIDR returns the CIDR addresses come from.
func (n *Network) PodCIDR() *net.IPNet { return n.cidr }

// HostVethName is the host side's interface name for a pod.
func HostVethName(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return hostVethPrefix + hex.EncodeToString(sum[:])[:11]
}

// Setup gives the pod whose network namespace is at netnsPath its address
// and veth pair, and returns the address. Calling it again for the same pod
// returns the same address and repairs what is missing.
func (n *Network) Setup(ctx context.Context, netnsPath, podUID string) (net.IP, error) {
	defer n.pods.Lock(podUID)()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ip, fresh, err := n.ipam.acquire(podUID)
	if err != nil {
		return nil, err
	}
	if err := n.setup(netnsPath, podUID, ip); err != nil {
		// Keep the address only if the pod had it before (a repair);
		// a fresh failure gives it back.
		if fresh {
			_ = n.ipam.release(podUID)
		}
		n.lg.Warn("pod network setup failed", zap.String("podUID", podUID), zap.Error(err))
		return nil, err
	}
	return ip, nil
}

func (n *Network) setup(netnsPath, podUID string, ip net.IP) error {
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("network: open netns %s: %w", netnsPath, err)
	}
	defer ns.Close()
	podH, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("network: netlink in %s: %w", netnsPath, err)
	}
	defer podH.Close()

	hostName := HostVethName(podUID)
	host, err := netlink.LinkByName(hostName)
	if err == nil {
		// A pair from an earlier try: keep it if its pod side is there.
		if _, perr := podH.LinkByName(PodInterface); perr != nil {
			if err := netlink.LinkDel(host); err != nil {
				return fmt.Errorf("network: delete stale %s: %w", hostName, err)
			}
			host = nil
		}
	} else {
		host = nil
	}
	if host == nil {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: hostName, MTU: n.mtu},
			PeerName:      PodInterface,
			PeerNamespace: netlink.NsFd(int(ns)),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("network: add veth %s: %w", hostName, err)
		}
		if host, err = netlink.LinkByName(hostName); err != nil {
			return fmt.Errorf("network: %s: %w", hostName, err)
		}
	}

	// Pod side.
	lo, err := podH.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: pod lo: %w", err)
	}
	if err := podH.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: pod lo up: %w", err)
	}
	eth, err := podH.LinkByName(PodInterface)
	if err != nil {
		return fmt.Errorf("network: pod %s: %w", PodInterface, err)
	}
	if err := podH.AddrReplace(eth, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}}); err != nil {
		return fmt.Errorf("network: pod address: %w", err)
	}
	if err := podH.LinkSetUp(eth); err != nil {
		return fmt.Errorf("network: pod %s up: %w", PodInterface, err)
	}
	gw := &net.IPNet{IP: GatewayIP, Mask: net.CIDRMask(32, 32)}
	if err := podH.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: gw, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("network: pod gateway route: %w", err)
	}
	if err := podH.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: GatewayIP,
		Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}); err != nil {
		return fmt.Errorf("network: pod default route: %w", err)
	}

	// The pod reaches the gateway by a permanent neighbour entry with the
	// host veth's MAC: proxy ARP alone answers only when the node has a
	// route for 169.254.1.1 elsewhere (its default route), which a node
	// in its own test namespace may lack.
	if err := podH.NeighSet(&netlink.Neigh{LinkIndex: eth.Attrs().Index, Family: netlink.FAMILY_V4,
		State: netlink.NUD_PERMANENT, IP: GatewayIP, HardwareAddr: host.Attrs().HardwareAddr}); err != nil {
		return fmt.Errorf("network: pod gateway neighbour: %w", err)
	}

	// Host side: answer ARP for the gateway at once (proxy_delay defaults
	// to up to 0.8s), and route the pod's address to the veth.
	for key, val := range map[string]string{
		"net/ipv4/conf/" + hostName + "/proxy_arp":    "1",
		"net/ipv4/neigh/" + hostName + "/proxy_delay": "0",
		"net/ipv6/conf/" + hostName + "/disable_ipv6": "1",
	} {
		if err := writeSysctl(key, val); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("network: %s up: %w", hostName, err)
	}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: host.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)}}); err != nil {
		return fmt.Errorf("network: host route to %s: %w", ip, err)
	}
	n.lg.Debug("pod network up", zap.String("podUID", podUID), zap.String("ip", ip.String()), zap.String("veth", hostName))
	return nil
}

// Teardown removes the pod's veth pair (its host route goes with it) and
// releases its address. netnsPath may be gone already. Idempotent.
func (n *Network) Teardown(ctx context.Context, netnsPath, podUID string) error {
	defer n.pods.Lock(podUID)()
	hostName := HostVethName(podUID)
	if link, err := netlink.LinkByName(hostName); err == nil {
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("network: delete %s: %w", hostName, err)
		}
	} else if _, ok := err.(netlink.LinkNotFoundError); !ok {
		return fmt.Errorf("network: %s: %w", hostName, err)
	}
	return n.ipam.release(podUID)
}

// writeSysctl sets a /proc/sys key of this process's network namespace,
// skipping the write when it already has the value.
func writeSysctl(key, val string) error {
	p := filepath.Join("/proc/sys", key)
	if b, err := os.ReadFile(p); err == nil && string(b) == val+"\n" {
		return nil
	}
	if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
		return fmt.Errorf("network: sysctl %s: %w", key, err)
	}
	return nil
}
