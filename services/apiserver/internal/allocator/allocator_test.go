package allocator_test

import (
	"errors"
	"net/netip"
	"testing"

	"drover.dev/apiserver/internal/allocator"
)

func mustNew(t *testing.T, cidr, ports string) *allocator.Allocator {
	t.Helper()
	a, err := allocator.New("/registry/ranges", cidr, ports)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", cidr, ports, err)
	}
	return a
}

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		cidr      string
		ports     string
		wantErr   bool
		wantCIDR  string
		wantPorts string
		wantFirst string
	}{
		{name: "kubernetes defaults", cidr: "10.96.0.0/12", ports: "30000-32767", wantCIDR: "10.96.0.0/12", wantPorts: "30000-32767", wantFirst: "10.96.0.1"},
		{name: "host bits are masked", cidr: "10.96.3.7/12", ports: "30000-32767", wantCIDR: "10.96.0.0/12", wantPorts: "30000-32767", wantFirst: "10.96.0.1"},
		{name: "smallest usable range /30", cidr: "192.168.0.4/30", ports: "1-1", wantCIDR: "192.168.0.4/30", wantPorts: "1-1", wantFirst: "192.168.0.5"},
		{name: "spaces around ports", cidr: "10.0.0.0/24", ports: " 1000 - 2000 ", wantCIDR: "10.0.0.0/24", wantPorts: "1000-2000", wantFirst: "10.0.0.1"},
		{name: "whole port space", cidr: "10.0.0.0/24", ports: "1-65535", wantCIDR: "10.0.0.0/24", wantPorts: "1-65535", wantFirst: "10.0.0.1"},
		{name: "IPv6 /108", cidr: "fd00:10:96::/108", ports: "30000-32767", wantCIDR: "fd00:10:96::/108", wantPorts: "30000-32767", wantFirst: "fd00:10:96::1"},
		{name: "largest IPv6 range /66", cidr: "fd00::/66", ports: "30000-32767", wantCIDR: "fd00::/66", wantPorts: "30000-32767", wantFirst: "fd00::1"},

		{name: "not a CIDR", cidr: "10.96.0.0", ports: "30000-32767", wantErr: true},
		{name: "garbage CIDR", cidr: "ten/12", ports: "30000-32767", wantErr: true},
		{name: "empty CIDR", cidr: "", ports: "30000-32767", wantErr: true},
		{name: "/31 has no usable addresses", cidr: "10.0.0.0/31", ports: "30000-32767", wantErr: true},
		{name: "/32 has no usable addresses", cidr: "10.0.0.1/32", ports: "30000-32767", wantErr: true},
		{name: "IPv6 /64 too large", cidr: "fd00::/64", ports: "30000-32767", wantErr: true},
		{name: "IPv6 /128", cidr: "fd00::1/128", ports: "30000-32767", wantErr: true},
		{name: "port range without dash", cidr: "10.96.0.0/12", ports: "30000", wantErr: true},
		{name: "empty port range", cidr: "10.96.0.0/12", ports: "", wantErr: true},
		{name: "non-numeric ports", cidr: "10.96.0.0/12", ports: "a-b", wantErr: true},
		{name: "port zero", cidr: "10.96.0.0/12", ports: "0-100", wantErr: true},
		{name: "port above 65535", cidr: "10.96.0.0/12", ports: "30000-65536", wantErr: true},
		{name: "reversed ports", cidr: "10.96.0.0/12", ports: "32767-30000", wantErr: true},
		{name: "three parts", cidr: "10.96.0.0/12", ports: "1-2-3", wantErr: true},
		{name: "negative port", cidr: "10.96.0.0/12", ports: "-1-5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := allocator.New("/registry/ranges", tt.cidr, tt.ports)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%q, %q) succeeded, want an error", tt.cidr, tt.ports)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q, %q): %v", tt.cidr, tt.ports, err)
			}
			if got := a.ServiceCIDR().String(); got != tt.wantCIDR {
				t.Errorf("ServiceCIDR = %s, want %s", got, tt.wantCIDR)
			}
			if got := a.NodePortRange(); got != tt.wantPorts {
				t.Errorf("NodePortRange = %s, want %s", got, tt.wantPorts)
			}
			if got := a.FirstIP(); got != tt.wantFirst {
				t.Errorf("FirstIP = %s, want %s", got, tt.wantFirst)
			}
		})
	}
}

// TestRandomIP draws many candidates and checks the invariants every one
// must hold: inside the range, never the network or broadcast address, never
// the first address (the kubernetes Service's), and accepted by CheckIP.
func TestRandomIP(t *testing.T) {
	tests := []struct {
		name      string
		cidr      string
		draws     int
		network   string
		broadcast string
		// wantAll lists every candidate a small range must eventually produce.
		wantAll []string
		// minDistinct is how many distinct addresses the draws must spread over.
		minDistinct int
	}{
		// About 200 repeats are expected among 20000 draws from 2^20 addresses.
		{name: "/12", cidr: "10.96.0.0/12", draws: 20000, network: "10.96.0.0", broadcast: "10.111.255.255", minDistinct: 19000},
		{name: "/29", cidr: "10.0.0.8/29", draws: 2000, network: "10.0.0.8", broadcast: "10.0.0.15",
			wantAll: []string{"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"}},
		{name: "/30 has one candidate", cidr: "10.0.0.0/30", draws: 100, network: "10.0.0.0", broadcast: "10.0.0.3",
			wantAll: []string{"10.0.0.2"}},
		// 253 candidates: each is missed by 5000 draws with probability e^-20.
		{name: "IPv6 /120", cidr: "fd00::/120", draws: 5000, network: "fd00::", broadcast: "fd00::ff", minDistinct: 253},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.cidr, "30000-32767")
			prefix := netip.MustParsePrefix(tt.cidr)
			seen := map[string]int{}
			for range tt.draws {
				ip := a.RandomIP()
				addr, err := netip.ParseAddr(ip)
				switch {
				case err != nil:
					t.Fatalf("RandomIP = %q: %v", ip, err)
				case !prefix.Contains(addr):
					t.Fatalf("RandomIP = %s, outside %s", ip, tt.cidr)
				case ip == tt.network:
					t.Fatalf("RandomIP returned the network address %s", ip)
				case ip == tt.broadcast:
					t.Fatalf("RandomIP returned the broadcast address %s", ip)
				case ip == a.FirstIP():
					t.Fatalf("RandomIP returned the first address %s, reserved for the kubernetes Service", ip)
				}
				if err := a.CheckIP(ip); err != nil {
					t.Fatalf("CheckIP(RandomIP() = %s): %v", ip, err)
				}
				seen[ip]++
			}
			for _, ip := range tt.wantAll {
				if seen[ip] == 0 {
					t.Errorf("%s never drawn in %d draws: %v", ip, tt.draws, seen)
				}
			}
			if tt.wantAll != nil && len(seen) != len(tt.wantAll) {
				t.Errorf("drew %d distinct addresses, want %d: %v", len(seen), len(tt.wantAll), seen)
			}
			if len(seen) < tt.minDistinct {
				t.Errorf("only %d distinct addresses in %d draws, want at least %d", len(seen), tt.draws, tt.minDistinct)
			}
		})
	}
}

func TestRandomPort(t *testing.T) {
	a := mustNew(t, "10.0.0.0/24", "30000-30004")
	seen := map[int32]bool{}
	for range 1000 {
		p := a.RandomPort()
		if err := a.CheckPort(p); err != nil {
			t.Fatalf("CheckPort(RandomPort() = %d): %v", p, err)
		}
		seen[p] = true
	}
	if len(seen) != 5 {
		t.Errorf("drew ports %v, want all of 30000-30004", seen)
	}
}

func TestCheckIP(t *testing.T) {
	a := mustNew(t, "10.96.0.0/12", "30000-32767")
	v6 := mustNew(t, "fd00::/120", "30000-32767")
	tests := []struct {
		name    string
		a       *allocator.Allocator
		ip      string
		wantErr bool
	}{
		{"first address (kubernetes Service)", a, "10.96.0.1", false},
		{"second address", a, "10.96.0.2", false},
		{"middle", a, "10.100.20.30", false},
		{"last usable", a, "10.111.255.254", false},
		{"network address", a, "10.96.0.0", true},
		{"broadcast address", a, "10.111.255.255", true},
		{"just below the range", a, "10.95.255.255", true},
		{"just above the range", a, "10.112.0.0", true},
		{"not an IP", a, "ten.ninety-six", true},
		{"empty", a, "", true},
		{"leading zeros", a, "10.096.0.1", true},
		{"IPv4-mapped IPv6", a, "::ffff:10.96.0.10", true},
		{"IPv6 in an IPv4 range", a, "fd00::10", true},
		{"CIDR instead of an IP", a, "10.96.0.10/32", true},
		{"IPv6 first", v6, "fd00::1", false},
		{"IPv6 last usable", v6, "fd00::fe", false},
		{"IPv6 network", v6, "fd00::", true},
		{"IPv6 last address", v6, "fd00::ff", true},
		{"IPv6 outside", v6, "fd00::100", true},
		{"IPv4 in an IPv6 range", v6, "10.96.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.CheckIP(tt.ip)
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckIP(%q) = %v, want error %v", tt.ip, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, allocator.ErrNotInRange) {
				t.Errorf("CheckIP(%q) = %v, want ErrNotInRange", tt.ip, err)
			}
		})
	}
}

// TestCheckIPIPv6Spellings: an IPv6 address has many spellings; the one
// RandomIP never hands out must be refused in all of them.
func TestCheckIPIPv6Spellings(t *testing.T) {
	a := mustNew(t, "fd00::/120", "30000-32767")
	for _, ip := range []string{"fd00::ff", "FD00::FF", "fd00:0::ff", "fd00:0:0:0:0:0:0:ff", "fd00::00ff"} {
		if err := a.CheckIP(ip); !errors.Is(err, allocator.ErrNotInRange) {
			t.Errorf("CheckIP(%q) = %v, want ErrNotInRange (it is the last address of fd00::/120)", ip, err)
		}
	}
}

// TestIPKeyCanonical: two spellings of one address must map to one
// allocation key, or two Services can hold the same cluster IP.
func TestIPKeyCanonical(t *testing.T) {
	a := mustNew(t, "fd00::/120", "30000-32767")
	want := a.IPKey("fd00::a")
	for _, ip := range []string{"FD00::A", "fd00:0::a", "fd00:0:0:0:0:0:0:a", "fd00::000a"} {
		if err := a.CheckIP(ip); err != nil {
			continue // refusing a spelling is fine too
		}
		if got := a.IPKey(ip); got != want {
			t.Errorf("IPKey(%q) = %q, want %q like IPKey(\"fd00::a\")", ip, got, want)
		}
	}
}

func TestCheckPort(t *testing.T) {
	a := mustNew(t, "10.96.0.0/12", "30000-32767")
	tests := []struct {
		port    int32
		wantErr bool
	}{
		{30000, false},
		{31000, false},
		{32767, false},
		{29999, true},
		{32768, true},
		{0, true},
		{-1, true},
		{80, true},
		{65535, true},
	}
	for _, tt := range tests {
		err := a.CheckPort(tt.port)
		if (err != nil) != tt.wantErr {
			t.Errorf("CheckPort(%d) = %v, want error %v", tt.port, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, allocator.ErrNotInRange) {
			t.Errorf("CheckPort(%d) = %v, want ErrNotInRange", tt.port, err)
		}
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name       string
		prefix     string
		ip         string
		port       int32
		protocol   string
		wantIPKey  string
		wantPortKy string
	}{
		{"plain prefix", "/registry/ranges", "10.96.0.10", 30080, "TCP", "/registry/ranges/serviceips/10.96.0.10", "/registry/ranges/servicenodeports/tcp/30080"},
		{"trailing slash", "/registry/ranges/", "10.96.0.11", 30081, "UDP", "/registry/ranges/serviceips/10.96.0.11", "/registry/ranges/servicenodeports/udp/30081"},
		{"protocol is lowercased", "/r", "fd00::a", 30082, "SCTP", "/r/serviceips/fd00::a", "/r/servicenodeports/sctp/30082"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := allocator.New(tt.prefix, "10.96.0.0/12", "30000-32767")
			if err != nil {
				t.Fatal(err)
			}
			if got := a.IPKey(tt.ip); got != tt.wantIPKey {
				t.Errorf("IPKey = %q, want %q", got, tt.wantIPKey)
			}
			if got := a.PortKey(tt.port, tt.protocol); got != tt.wantPortKy {
				t.Errorf("PortKey = %q, want %q", got, tt.wantPortKy)
			}
		})
	}
	// TCP and UDP may share a number; the keys must differ.
	a := mustNew(t, "10.96.0.0/12", "30000-32767")
	if a.PortKey(30000, "TCP") == a.PortKey(30000, "UDP") {
		t.Error("TCP and UDP node ports share a key")
	}
}

func TestClaimRelease(t *testing.T) {
	keys := []string{"/registry/ranges/serviceips/10.96.0.10", "/registry/ranges/servicenodeports/tcp/30080"}
	const owner = "/registry/services/default/web"
	claim := allocator.Claim(keys, owner)
	release := allocator.Release(keys)
	if len(claim) != len(keys) || len(release) != len(keys) {
		t.Fatalf("Claim/Release returned %d/%d ops for %d keys", len(claim), len(release), len(keys))
	}
	for i, k := range keys {
		if !claim[i].IsPut() || string(claim[i].KeyBytes()) != k || string(claim[i].ValueBytes()) != owner {
			t.Errorf("Claim[%d] = put %v %q=%q, want put %q=%q", i, claim[i].IsPut(), claim[i].KeyBytes(), claim[i].ValueBytes(), k, owner)
		}
		if !release[i].IsDelete() || string(release[i].KeyBytes()) != k {
			t.Errorf("Release[%d] = delete %v %q, want delete %q", i, release[i].IsDelete(), release[i].KeyBytes(), k)
		}
	}
	if len(allocator.Claim(nil, owner)) != 0 || len(allocator.Release(nil)) != 0 {
		t.Error("no keys must give no operations")
	}
}
