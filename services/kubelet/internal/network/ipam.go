package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoAddress means every address of the pod CIDR is in use.
var ErrNoAddress = errors.New("network: no free address in the pod CIDR")

// ipam hands out addresses of one IPv4 CIDR. Each allocation is a file named
// by the address holding the pod UID (as CNI's host-local plugin keeps
// them), so allocations survive restarts and an address in use is never
// given twice; a flock serializes processes sharing the directory.
type ipam struct {
	dir   string
	first uint32 // first address handed out
	last  uint32 // last address handed out
}

const lastFile = "last_reserved"

func newIPAM(dir string, cidr *net.IPNet) (*ipam, error) {
	ip4 := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if ip4 == nil || bits != 32 {
		return nil, fmt.Errorf("network: pod CIDR %s is not IPv4", cidr)
	}
	if ones > 29 {
		return nil, fmt.Errorf("network: pod CIDR %s is too small (need /29 or larger)", cidr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base := binary.BigEndian.Uint32(ip4)
	size := uint32(1) << (32 - ones)
	// Skip the network address, the first address (kept for the node
	// side, e.g. a future bridge), and the broadcast address.
	return &ipam{dir: dir, first: base + 2, last: base + size - 2}, nil
}

func u32ToIP(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// lock takes an exclusive flock on the directory's lock file.
func (a *ipam) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(a.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// find returns the address held by owner, or nil.
func (a *ipam) find(owner string) (net.IP, error) {
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		ip := net.ParseIP(e.Name()).To4()
		if ip == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if err != nil {
			continue
		}
		if string(bytes.TrimSpace(b)) == owner {
			return ip, nil
		}
	}
	return nil, nil
}

// allocate returns owner's address, reserving a free one if it has none.
// It goes round the range from the last one reserved, so that a released
// address is not reused at once.
func (a *ipam) allocate(owner string) (net.IP, error) {
	ip, _, err := a.acquire(owner)
	return ip, err
}

// acquire is allocate that also tells whether the address is new (the
// owner had none), in one scan of the directory.
func (a *ipam) acquire(owner string) (ip net.IP, fresh bool, err error) {
	if owner == "" || strings.ContainsAny(owner, "/\n") {
		return nil, false, fmt.Errorf("network: bad pod UID %q", owner)
	}
	unlock, err := a.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if ip, err := a.find(owner); err != nil || ip != nil {
		return ip, false, err
	}
	ip, err = a.reserve(owner)
	return ip, err == nil, err
}

// reserve takes a free address for owner; the lock must be held.
func (a *ipam) reserve(owner string) (net.IP, error) {
	start := a.first
	if b, err := os.ReadFile(filepath.Join(a.dir, lastFile)); err == nil {
		if ip := net.ParseIP(strings.TrimSpace(string(b))).To4(); ip != nil {
			if v := binary.BigEndian.Uint32(ip); v >= a.first && v < a.last {
				start = v + 1
			}
		}
	}
	n := a.last - a.first + 1
	for i := uint32(0); i < n; i++ {
		v := a.first + (start-a.first+i)%n
		ip := u32ToIP(v)
		f, err := os.OpenFile(filepath.Join(a.dir, ip.String()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, werr := f.WriteString(owner)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(f.Name())
			return nil, werr
		}
		if err := os.WriteFile(filepath.Join(a.dir, lastFile), []byte(ip.String()), 0o600); err != nil {
			return nil, err
		}
		return ip, nil
	}
	return nil, ErrNoAddress
}

// release frees owner's address, if it has one.
func (a *ipam) release(owner string) error {
	unlock, err := a.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ip, err := a.find(owner)
	if err != nil || ip == nil {
		return err
	}
	if err := os.Remove(filepath.Join(a.dir, ip.String())); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
