// Package nodenet builds the simulated datacentre network of a multi-node
// local cluster: a Linux bridge on the host that stands for the network
// between machines, and one network namespace per node, joined to the
// bridge by a veth pair, with its own address on it. The host has the first
// address of the network and is every node's default gateway, so nodes
// reach the control plane, which listens on that address.
//
// Everything is made with netlink and is idempotent: Ensure repairs what is
// missing and keeps what is there (a resumed cluster keeps its running
// pods), Teardown removes every object Ensure made.
package nodenet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Defaults of the node network.
const (
	DefaultBridge  = "drover0"
	DefaultNetwork = "172.31.0.0/24"
	// NetNSDir is where named network namespaces live, as iproute2 has them,
	// so that `ip netns` lists the nodes' namespaces.
	NetNSDir = "/run/netns"
	// nodeInterface is the node side of its veth pair.
	nodeInterface = "eth0"
)

var (
	// ErrTooManyNodes is returned when the network has no address left.
	ErrTooManyNodes = errors.New("nodenet: network too small for the nodes")
	// ErrBadConfig is returned for a configuration that cannot work.
	ErrBadConfig = errors.New("nodenet: bad configuration")
)

// Config describes the node network of one cluster.
type Config struct {
	// Bridge is the host bridge's name.
	Bridge string
	// Network is the bridge's IPv4 network; the host gets its first address,
	// node i (1-based) the (i+1)th.
	Network netip.Prefix
	// ClusterID makes namespace names unique to one state directory, so two
	// clusters on one machine never share a node namespace.
	ClusterID string
	Logger    *zap.Logger
}

// ClusterID derives a short stable id from a state directory path.
func ClusterID(stateDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	return hex.EncodeToString(sum[:])[:6]
}

// Network is one cluster's node network.
type Network struct {
	cfg Config
	lg  *zap.Logger
}

// Node is one node's place on the network.
type Node struct {
	Name string
	// IP is the node's address on the bridge (its InternalIP).
	IP netip.Addr
	// NetNS is the path of its network namespace.
	NetNS string
	// hostVeth is the host side of its veth pair, a port of the bridge.
	hostVeth string
}

// New checks cfg.
func New(cfg Config) (*Network, error) {
	if cfg.Bridge == "" || len(cfg.Bridge) > unix.IFNAMSIZ-1-4 {
		return nil, fmt.Errorf("%w: bridge name %q must have 1 to %d characters", ErrBadConfig, cfg.Bridge, unix.IFNAMSIZ-1-4)
	}
	if !cfg.Network.IsValid() || !cfg.Network.Addr().Is4() || cfg.Network.Bits() > 29 {
		return nil, fmt.Errorf("%w: network %s must be an IPv4 prefix of /29 or larger", ErrBadConfig, cfg.Network)
	}
	if cfg.ClusterID == "" {
		return nil, fmt.Errorf("%w: no cluster id", ErrBadConfig)
	}
	cfg.Network = cfg.Network.Masked()
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Network{cfg: cfg, lg: lg}, nil
}

// HostIP is the host's address on the bridge.
func (n *Network) HostIP() netip.Addr { return n.cfg.Network.Addr().Next() }

// Bridge is the bridge's name.
func (n *Network) Bridge() string { return n.cfg.Bridge }

// Node returns node i's (1-based) place on the network.
func (n *Network) Node(i int) (Node, error) {
	ip := n.HostIP()
	for range i {
		ip = ip.Next()
	}
	// The last address is the broadcast address.
	if i < 1 || !n.cfg.Network.Contains(ip) || !n.cfg.Network.Contains(ip.Next()) {
		return Node{}, fmt.Errorf("%w: node %d in %s", ErrTooManyNodes, i, n.cfg.Network)
	}
	name := fmt.Sprintf("node-%d", i)
	return Node{
		Name:     name,
		IP:       ip,
		NetNS:    filepath.Join(NetNSDir, "drover-"+n.cfg.ClusterID+"-"+name),
		hostVeth: fmt.Sprintf("%sn%d", n.cfg.Bridge, i),
	}, nil
}

// EnsureBridge creates the bridge with the host's address, up, unless it is
// there already.
func (n *Network) EnsureBridge() error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); !ok {
			return fmt.Errorf("nodenet: bridge %s: %w", n.cfg.Bridge, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.cfg.Bridge
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("nodenet: add bridge %s: %w", n.cfg.Bridge, err)
		}
		if br, err = netlink.LinkByName(n.cfg.Bridge); err != nil {
			return fmt.Errorf("nodenet: bridge %s: %w", n.cfg.Bridge, err)
		}
		n.lg.Info("created bridge", zap.String("bridge", n.cfg.Bridge))
	} else if br.Type() != "bridge" {
		return fmt.Errorf("%w: %s exists and is a %s, not a bridge", ErrBadConfig, n.cfg.Bridge, br.Type())
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.HostIP().AsSlice(), Mask: net.CIDRMask(n.cfg.Network.Bits(), 32)}}
	if err := netlink.AddrReplace(br, addr); err != nil {
		return fmt.Errorf("nodenet: address %s on %s: %w", addr, n.cfg.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("nodenet: %s up: %w", n.cfg.Bridge, err)
	}
	return nil
}

// EnsureNode creates the node's namespace and veth pair unless they are
// there, and gives the node side its address, a default route via the host
// and a loopback that is up.
func (n *Network) EnsureNode(node Node) error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("nodenet: bridge %s: %w", n.cfg.Bridge, err)
	}
	if err := ensureNetNS(node.NetNS); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(node.NetNS)
	if err != nil {
		return fmt.Errorf("nodenet: open %s: %w", node.NetNS, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("nodenet: netlink in %s: %w", node.NetNS, err)
	}
	defer h.Close()

	host, err := netlink.LinkByName(node.hostVeth)
	if err == nil {
		// A pair from an earlier run: keep it if its node side is there.
		if _, perr := h.LinkByName(nodeInterface); perr != nil {
			if err := netlink.LinkDel(host); err != nil {
				return fmt.Errorf("nodenet: delete stale %s: %w", node.hostVeth, err)
			}
			host = nil
		}
	} else {
		host = nil
	}
	if host == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = node.hostVeth
		attrs.MasterIndex = br.Attrs().Index
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: nodeInterface, PeerNamespace: netlink.NsFd(int(ns))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("nodenet: add veth %s: %w", node.hostVeth, err)
		}
		if host, err = netlink.LinkByName(node.hostVeth); err != nil {
			return fmt.Errorf("nodenet: %s: %w", node.hostVeth, err)
		}
	}
	if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
		return fmt.Errorf("nodenet: %s into %s: %w", node.hostVeth, n.cfg.Bridge, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("nodenet: %s up: %w", node.hostVeth, err)
	}

	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("nodenet: %s lo: %w", node.Name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("nodenet: %s lo up: %w", node.Name, err)
	}
	eth, err := h.LinkByName(nodeInterface)
	if err != nil {
		return fmt.Errorf("nodenet: %s %s: %w", node.Name, nodeInterface, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: node.IP.AsSlice(), Mask: net.CIDRMask(n.cfg.Network.Bits(), 32)}}
	if err := h.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("nodenet: %s address %s: %w", node.Name, addr, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("nodenet: %s %s up: %w", node.Name, nodeInterface, err)
	}
	def := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.HostIP().AsSlice(),
		Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := h.RouteReplace(def); err != nil {
		return fmt.Errorf("nodenet: %s default route: %w", node.Name, err)
	}
	n.lg.Debug("node network ready", zap.String("node", node.Name), zap.String("ip", node.IP.String()), zap.String("netns", node.NetNS))
	return nil
}

// TeardownNode deletes the node's namespace (its veth pair, addresses,
// routes and nftables tables go with it once nothing runs in it).
// Idempotent.
func (n *Network) TeardownNode(node Node) error {
	var errs []error
	if link, err := netlink.LinkByName(node.hostVeth); err == nil {
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("nodenet: delete %s: %w", node.hostVeth, err))
		}
	}
	if err := unix.Unmount(node.NetNS, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("nodenet: unmount %s: %w", node.NetNS, err))
	}
	if err := os.Remove(node.NetNS); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("nodenet: %w", err))
	}
	return errors.Join(errs...)
}

// TeardownBridge deletes the bridge; the host's routes through it go too.
// Idempotent.
func (n *Network) TeardownBridge() error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil
		}
		return fmt.Errorf("nodenet: bridge %s: %w", n.cfg.Bridge, err)
	}
	if err := netlink.LinkDel(br); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("nodenet: delete bridge %s: %w", n.cfg.Bridge, err)
	}
	return nil
}

// ensureNetNS makes a named network namespace at path unless one is
// mounted there.
func ensureNetNS(path string) error {
	if isNetNSMount(path) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("nodenet: %w", err)
	}
	// A file left by a run that died between creating and mounting it.
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("nodenet: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// unshare changes this thread's namespace: the thread stays locked
		// until it is back in the original one. Were that to fail, the
		// goroutine exits locked and Go ends the thread.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("nodenet: current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("nodenet: unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		mountErr := unix.Mount(self, path, "", unix.MS_BIND, "")
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(mountErr, fmt.Errorf("nodenet: back to the original netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		if mountErr != nil {
			errc <- fmt.Errorf("nodenet: mount %s: %w", path, mountErr)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// isNetNSMount reports whether path is a mounted network namespace.
// NetNSExists reports whether path holds a network namespace (a bind mount
// of one), as a node's namespace does until TeardownNode.
func NetNSExists(path string) bool { return isNetNSMount(path) }

func isNetNSMount(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
