// Package model turns Services and EndpointSlices into a pure description of
// the nftables objects that forward them: per-service chains, verdict-map
// entries and sets. It knows nothing about netlink, so it is tested without
// a kernel; internal/nft programs what it describes.
package model

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Names of the objects shared by every Service. internal/nft creates them;
// per-service objects point at them by these names.
const (
	RejectChain       = "reject-chain"
	MarkMasqChain     = "mark-for-masquerade"
	ServiceIPsMap     = "service-ips"
	NodePortsMap      = "service-nodeports"
	NoEndpointsMap    = "no-endpoint-services"
	NoEndpointNPMap   = "no-endpoint-nodeports"
	ClusterIPsSet     = "cluster-ips"
	HairpinSet        = "hairpin-connections"
	servicePrefix     = "svc-"
	localPrefix       = "local-"
	externalPrefix    = "ext-"
	endpointPrefix    = "ep-"
	affinityPrefix    = "affinity-"
	maxNameLen        = 255
	defaultStickySecs = 10800
)

// Config is what the model needs to know about the node.
type Config struct {
	// Family is the IP family of the table being built.
	Family corev1.IPFamily
	// NodeName decides which endpoints are local.
	NodeName string
	// ClusterCIDRs (of Family) are pod addresses: traffic from them is
	// never masqueraded on its way to a ClusterIP.
	ClusterCIDRs []netip.Prefix
}

// VerdictKind is what a verdict-map entry does.
type VerdictKind int

// Verdict kinds.
const (
	Goto VerdictKind = iota
	Drop
)

// Verdict is a verdict-map value.
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

func (v Verdict) String() string {
	if v.Kind == Drop {
		return "drop"
	}
	return "goto " + v.Chain
}

// Key is a service-ips / no-endpoint-services map key: ip . proto . port.
type Key struct {
	IP    netip.Addr
	Proto corev1.Protocol
	Port  uint16
}

func (k Key) String() string { return fmt.Sprintf("%s . %s . %d", k.IP, proto(k.Proto), k.Port) }

// PortKey is a nodeport map key: proto . port.
type PortKey struct {
	Proto corev1.Protocol
	Port  uint16
}

// Rule is one rule of a per-service chain: optional matches, then one action.
type Rule struct {
	// Matches (all that are set must hold).
	SaddrInSet    string        // ip saddr @set
	SaddrIn       *netip.Prefix // ip saddr prefix
	FibSaddrLocal bool          // fib saddr type local

	// Actions (exactly one is set).
	MarkMasq  bool           // jump mark-for-masquerade
	UpdateSet string         // update @set { ip saddr }
	DNAT      netip.AddrPort // dnat to one address:port (affinity endpoint chains)
	Goto      string         // goto chain
	// Pick names a Group: pick one of its PickOf members at random with
	// equal weight. The rule refers to the group and its size, not to its
	// members, so it stays the same while the number of endpoints does.
	Pick   string
	PickOf int
}

// Group is the set of endpoints a Pick rule chooses from: addresses to
// DNAT to, or (for ClientIP affinity) per-endpoint chains to go to. Exactly
// one of Endpoints and Chains is set. Its Name is the chain holding the Pick.
type Group struct {
	Name      string
	Endpoints []netip.AddrPort
	Chains    []string
}

// Chain is a regular chain and its rules, written whole.
type Chain struct {
	Name  string
	Rules []Rule
}

// AffinitySet is a dynamic set of client addresses with a timeout, one per
// endpoint of a ClientIP-affinity service.
type AffinitySet struct {
	Name    string
	Timeout time.Duration
}

// Hairpin is a hairpin-connections element: a local endpoint reaching itself.
type Hairpin struct {
	IP    netip.Addr
	Proto corev1.Protocol
	Port  uint16
}

// UDPPort lists, for one UDP service port, what conntrack cleanup needs.
type UDPPort struct {
	// Keys are the service's IPs (cluster and external) with the port.
	Keys     []Key
	NodePort uint16
	// Endpoints that traffic may go to.
	Endpoints []netip.Addr
}

// Service is everything one Service contributes to the table.
type Service struct {
	Chains              []Chain
	Groups              []Group
	ServiceIPs          map[Key]Verdict
	NodePorts           map[PortKey]Verdict
	NoEndpoints         map[Key]Verdict
	NoEndpointNodePorts map[PortKey]Verdict
	ClusterIPs          []netip.Addr
	Hairpins            []Hairpin
	AffinitySets        []AffinitySet
	UDP                 []UDPPort
	// Endpoints counts the endpoints (of all ports) the service forwards to.
	Endpoints int
}

// Empty reports whether the service contributes nothing (headless, or not
// of this family).
func (s *Service) Empty() bool {
	return len(s.Chains) == 0 && len(s.ServiceIPs) == 0 && len(s.NodePorts) == 0 &&
		len(s.NoEndpoints) == 0 && len(s.NoEndpointNodePorts) == 0 && len(s.ClusterIPs) == 0
}

// endpoint is one address:port of a service port, with what decides its use.
type endpoint struct {
	addr                        netip.AddrPort
	local                       bool
	ready, serving, terminating bool
}

// Build describes svc in the table of cfg.Family. slices are the
// EndpointSlices of svc (other families are ignored).
func Build(cfg Config, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) *Service {
	out := &Service{
		ServiceIPs:          map[Key]Verdict{},
		NodePorts:           map[PortKey]Verdict{},
		NoEndpoints:         map[Key]Verdict{},
		NoEndpointNodePorts: map[PortKey]Verdict{},
	}
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return out
	}
	clusterIP, ok := clusterIPOf(svc, cfg.Family)
	if !ok {
		return out // headless, or no address of this family
	}
	out.ClusterIPs = append(out.ClusterIPs, clusterIP)
	var externalIPs []netip.Addr
	for _, s := range svc.Spec.ExternalIPs {
		if ip, err := netip.ParseAddr(s); err == nil && familyOf(ip) == cfg.Family {
			externalIPs = append(externalIPs, ip.Unmap())
		}
	}
	affinity := svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP
	timeout := time.Duration(defaultStickySecs) * time.Second
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		timeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
	}
	etpLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal &&
		(len(externalIPs) > 0 || svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer)
	itpLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal

	for _, sp := range svc.Spec.Ports {
		protocol := sp.Protocol
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		base := fmt.Sprintf("%s/%s/%s/%s", svc.Namespace, svc.Name, proto(protocol), portName(sp))
		clusterChain := name(servicePrefix, base)
		localChain := name(localPrefix, base)
		extChain := name(externalPrefix, base)

		all := endpointsFor(cfg, sp.Name, protocol, slices)
		clusterEPs := usable(all, false)
		localEPs := usable(all, true)
		hasEndpoints := len(clusterEPs) > 0
		hasInternal, hasExternal := hasEndpoints, hasEndpoints
		internalChain := clusterChain
		if itpLocal {
			internalChain = localChain
			hasInternal = len(localEPs) > 0
		}
		externalPolicyChain := clusterChain
		if etpLocal {
			externalPolicyChain = localChain
			hasExternal = len(localEPs) > 0
		}
		externallyReachable := len(externalIPs) > 0 || sp.NodePort != 0
		noEPVerdict := Verdict{Kind: Goto, Chain: RejectChain}
		internalMiss, externalMiss := noEPVerdict, noEPVerdict
		if hasEndpoints {
			// ETP/ITP Local without a local endpoint: drop, as Kubernetes does.
			internalMiss, externalMiss = Verdict{Kind: Drop}, Verdict{Kind: Drop}
		}

		// Per-endpoint chains exist only for affinity: plain services pick
		// an address straight from their group, so their chain is one rule
		// that never changes with the endpoints.
		epChain := func(ep endpoint) string {
			return name(endpointPrefix, base+"__"+ep.addr.String())
		}
		writePolicy := func(chain string, eps []endpoint) {
			c := Chain{Name: chain}
			g := Group{Name: chain}
			if !affinity {
				g.Endpoints = make([]netip.AddrPort, len(eps))
				for i, ep := range eps {
					g.Endpoints[i] = ep.addr
				}
			} else {
				g.Chains = make([]string, len(eps))
				for i, ep := range eps {
					g.Chains[i] = epChain(ep)
					c.Rules = append(c.Rules, Rule{SaddrInSet: affinitySet(g.Chains[i], timeout), Goto: g.Chains[i]})
				}
			}
			c.Rules = append(c.Rules, Rule{Pick: chain, PickOf: len(eps)})
			out.Chains = append(out.Chains, c)
			out.Groups = append(out.Groups, g)
		}
		usesCluster := len(clusterEPs) > 0 && (!itpLocal || externallyReachable)
		usesLocal := len(localEPs) > 0 && (itpLocal || (etpLocal && externallyReachable))
		if usesCluster {
			writePolicy(clusterChain, clusterEPs)
		}
		if usesLocal {
			writePolicy(localChain, localEPs)
		}
		if affinity {
			seen := map[string]bool{}
			for _, eps := range [][]endpoint{clusterEPs, localEPs} {
				for _, ep := range eps {
					c := epChain(ep)
					if seen[c] {
						continue
					}
					seen[c] = true
					set := affinitySet(c, timeout)
					out.AffinitySets = append(out.AffinitySets, AffinitySet{Name: set, Timeout: timeout})
					out.Chains = append(out.Chains, Chain{Name: c, Rules: []Rule{
						{UpdateSet: set},
						{DNAT: ep.addr},
					}})
				}
			}
		}
		for _, ep := range all {
			if ep.local {
				out.Hairpins = append(out.Hairpins, Hairpin{IP: ep.addr.Addr(), Proto: protocol, Port: ep.addr.Port()})
			}
		}
		out.Endpoints += len(clusterEPs)

		// External chain: NodePort and externalIPs land here.
		usesExt := hasEndpoints && externallyReachable
		if usesExt {
			c := Chain{Name: extChain}
			if !etpLocal {
				// The endpoint may be on another node: masquerade so replies come back here.
				c.Rules = append(c.Rules, Rule{MarkMasq: true}, Rule{Goto: clusterChain})
			} else {
				for i := range cfg.ClusterCIDRs {
					// Pods going out to an external address and back act as if cluster-internal.
					c.Rules = append(c.Rules, Rule{SaddrIn: &cfg.ClusterCIDRs[i], Goto: clusterChain})
				}
				// The node itself: its source would be a local address.
				c.Rules = append(c.Rules, Rule{FibSaddrLocal: true, MarkMasq: true}, Rule{FibSaddrLocal: true, Goto: clusterChain})
				if hasExternal {
					c.Rules = append(c.Rules, Rule{Goto: externalPolicyChain})
				}
			}
			out.Chains = append(out.Chains, c)
		}

		port := uint16(sp.Port)
		ck := Key{IP: clusterIP, Proto: protocol, Port: port}
		if hasInternal {
			out.ServiceIPs[ck] = Verdict{Kind: Goto, Chain: internalChain}
		} else {
			out.NoEndpoints[ck] = internalMiss
		}
		for _, ip := range externalIPs {
			k := Key{IP: ip, Proto: protocol, Port: port}
			if usesExt {
				out.ServiceIPs[k] = Verdict{Kind: Goto, Chain: extChain}
			}
			if !hasExternal {
				out.NoEndpoints[k] = externalMiss
			}
		}
		if sp.NodePort != 0 {
			k := PortKey{Proto: protocol, Port: uint16(sp.NodePort)}
			if usesExt {
				out.NodePorts[k] = Verdict{Kind: Goto, Chain: extChain}
			}
			if !hasExternal {
				out.NoEndpointNodePorts[k] = externalMiss
			}
		}
		if protocol == corev1.ProtocolUDP {
			u := UDPPort{Keys: []Key{ck}, NodePort: uint16(sp.NodePort)}
			for _, ip := range externalIPs {
				u.Keys = append(u.Keys, Key{IP: ip, Proto: protocol, Port: port})
			}
			for _, eps := range [][]endpoint{clusterEPs, localEPs} {
				for _, ep := range eps {
					u.Endpoints = append(u.Endpoints, ep.addr.Addr())
				}
			}
			out.UDP = append(out.UDP, u)
		}
	}
	return out
}

func clusterIPOf(svc *corev1.Service, fam corev1.IPFamily) (netip.Addr, bool) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if s == corev1.ClusterIPNone {
			return netip.Addr{}, false
		}
		if ip, err := netip.ParseAddr(s); err == nil && familyOf(ip) == fam {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func familyOf(ip netip.Addr) corev1.IPFamily {
	if ip.Unmap().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// endpointsFor resolves a service port to address:port pairs: the port
// number comes from each slice, so a named targetPort may differ per pod.
func endpointsFor(cfg Config, portName string, protocol corev1.Protocol, slices []*discoveryv1.EndpointSlice) []endpoint {
	want := discoveryv1.AddressTypeIPv4
	if cfg.Family == corev1.IPv6Protocol {
		want = discoveryv1.AddressTypeIPv6
	}
	seen := map[netip.AddrPort]bool{}
	var out []endpoint
	for _, sl := range slices {
		if sl == nil || sl.AddressType != want {
			continue
		}
		var port int32 = -1
		for _, p := range sl.Ports {
			pn, pp := "", corev1.ProtocolTCP
			if p.Name != nil {
				pn = *p.Name
			}
			if p.Protocol != nil {
				pp = *p.Protocol
			}
			if pn == portName && pp == protocol && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, e := range sl.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || familyOf(ip) != cfg.Family {
				continue
			}
			ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
			if seen[ap] {
				continue
			}
			seen[ap] = true
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			out = append(out, endpoint{
				addr:        ap,
				local:       cfg.NodeName != "" && e.NodeName != nil && *e.NodeName == cfg.NodeName,
				ready:       ready,
				serving:     serving,
				terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.Compare(out[j].addr) < 0 })
	return out
}

// usable picks ready endpoints, falling back to serving terminating ones
// only when none is ready.
func usable(all []endpoint, localOnly bool) []endpoint {
	var ready, terminating []endpoint
	for _, ep := range all {
		if localOnly && !ep.local {
			continue
		}
		switch {
		case ep.ready:
			ready = append(ready, ep)
		case ep.serving && ep.terminating:
			terminating = append(terminating, ep)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

func portName(sp corev1.ServicePort) string {
	if sp.Name != "" {
		return sp.Name
	}
	return fmt.Sprint(sp.Port)
}

func proto(p corev1.Protocol) string { return strings.ToLower(string(p)) }

// name builds a chain or set name within the kernel's length limit.
func name(prefix, base string) string {
	n := prefix + base
	if len(n) > maxNameLen {
		n = n[:maxNameLen]
	}
	return n
}

// affinitySet names an endpoint's affinity set. The timeout is part of the
// name: a set's timeout cannot change in place, so a new timeout is a new set.
func affinitySet(endpointChain string, timeout time.Duration) string {
	return name(affinityPrefix, fmt.Sprintf("%d-%s", int64(timeout/time.Second), strings.TrimPrefix(endpointChain, endpointPrefix)))
}

// IsServiceChain reports whether a chain name belongs to a Service (as
// opposed to the fixed chains), for cleaning up chains left by a crash.
func IsServiceChain(n string) bool {
	for _, p := range []string{servicePrefix, localPrefix, externalPrefix, endpointPrefix} {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// IsAffinitySet reports whether a set name is a per-endpoint affinity set.
func IsAffinitySet(n string) bool { return strings.HasPrefix(n, affinityPrefix) }
