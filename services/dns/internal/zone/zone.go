// Package zone answers queries for the cluster domain (Services, their
// endpoints and Pods, as the Kubernetes DNS-Based Service Discovery
// specification describes) and the reverse names of cluster IPs.
//
// Memory matters more than the last nanosecond here: the index keeps the
// reflectors' trimmed objects by pointer plus what a query cannot cheaply
// derive (a headless service's ready endpoints and their names, reverse
// entries, namespace counts), and builds the few records of an answer when
// the query arrives — a map lookup and an allocation or two.
package zone

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"drover.dev/dns/internal/object"
)

// ErrBadDomain is returned for an unusable cluster domain.
var ErrBadDomain = errors.New("zone: invalid cluster domain")

// SchemaVersion is the DNS specification version dns-version.<zone> reports.
const SchemaVersion = "1.1.0"

// PodMode says how a-b-c-d.<ns>.pod.<zone> names are answered.
type PodMode string

// Pod modes, as CoreDNS' kubernetes plugin names them.
const (
	// PodsVerified answers only when a pod with that IP runs in that namespace.
	PodsVerified PodMode = "verified"
	// PodsInsecure answers any well-formed IP name without looking.
	PodsInsecure PodMode = "insecure"
	// PodsDisabled answers no pod name.
	PodsDisabled PodMode = "disabled"
)

// maxChase bounds CNAME chains followed inside the zone.
const maxChase = 8

// Zone is the cluster domain's data and answer logic. It is safe for
// concurrent use.
type Zone struct {
	origin    string // "cluster.local."
	svcOrigin string // "svc.cluster.local."
	podOrigin string // "pod.cluster.local."
	version   string // "dns-version.cluster.local."
	ttl       uint32
	podMode   PodMode
	soa       *dns.SOA
	ns        *dns.NS
	txt       *dns.TXT

	mu sync.RWMutex
	// services are keyed "<name>.<namespace>", the labels a query has.
	services   map[string]*service
	namespaces map[string]int32 // Services per namespace
	ptrs       map[netip.Addr][]ptrRef
	// pods holds the pod that has each IP; podsShared the further ones
	// that have the same IP (host-network pods share their node's).
	pods       map[netip.Addr]podRef
	podsShared map[netip.Addr][]podRef
	podNS      map[string]int32 // pod IPs per namespace
}

type podRef struct{ ns, name string }

// service is one Service's state: its object and slices (the informers'
// compact objects, shared), and for a headless service its ready endpoints.
type service struct {
	svc    *object.Service
	slices map[string]*object.EndpointSlice
	eps    []endpoint
	rev    []netip.Addr // reverse entries this service added
}

// endpoint is one address of a headless service with its DNS label (the
// hostname, or the dashed IP) and the ports of its slice.
type endpoint struct {
	label string
	addr  netip.Addr
	ports []object.Port
}

// ptrRef is a reverse entry: the service, and the endpoint label ("" for
// the service's own ClusterIP).
type ptrRef struct {
	st    *service
	label string
}

// New returns an empty zone for domain (e.g. "cluster.local") whose
// answers carry ttl.
func New(domain string, ttl uint32, mode PodMode) (*Zone, error) {
	origin := dns.Fqdn(strings.ToLower(strings.TrimSpace(domain)))
	if origin == "." {
		return nil, fmt.Errorf("%w: empty", ErrBadDomain)
	}
	if _, ok := dns.IsDomainName(origin); !ok || strings.Contains(origin, "..") {
		return nil, fmt.Errorf("%w: %q", ErrBadDomain, domain)
	}
	switch mode {
	case PodsVerified, PodsInsecure, PodsDisabled:
	default:
		return nil, fmt.Errorf("zone: pod mode %q is not verified, insecure or disabled", mode)
	}
	z := &Zone{
		origin:     origin,
		svcOrigin:  "svc." + origin,
		podOrigin:  "pod." + origin,
		version:    "dns-version." + origin,
		ttl:        ttl,
		podMode:    mode,
		services:   map[string]*service{},
		namespaces: map[string]int32{},
		ptrs:       map[netip.Addr][]ptrRef{},
		pods:       map[netip.Addr]podRef{},
		podsShared: map[netip.Addr][]podRef{},
		podNS:      map[string]int32{},
	}
	// The serial is constant so that every replica gives the same answers.
	z.soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + origin,
		Mbox:    "hostmaster." + origin,
		Serial:  1,
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
	z.ns = &dns.NS{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ttl}, Ns: "ns.dns." + origin}
	z.txt = &dns.TXT{Hdr: dns.RR_Header{Name: z.version, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{SchemaVersion}}
	return z, nil
}

// Origin is the zone's fully qualified name.
func (z *Zone) Origin() string { return z.origin }

// SOA is the zone's SOA record (shared: do not modify).
func (z *Zone) SOA() *dns.SOA { return z.soa }

func key(namespace, name string) string { return name + "." + namespace }

// UpsertService records a Service (added or changed).
func (z *Zone) UpsertService(s *object.Service) {
	k := key(s.Namespace, s.Name)
	z.mu.Lock()
	defer z.mu.Unlock()
	st := z.services[k]
	if st == nil {
		st = &service{}
		z.services[k] = st
	}
	if st.svc == nil {
		z.namespaces[s.Namespace]++
	}
	st.svc = s
	z.rebuildLocked(st)
}

// DeleteService forgets a Service; its slices stay until they are deleted.
func (z *Zone) DeleteService(namespace, name string) {
	k := key(namespace, name)
	z.mu.Lock()
	defer z.mu.Unlock()
	st := z.services[k]
	if st == nil || st.svc == nil {
		return
	}
	st.svc = nil
	if z.namespaces[namespace]--; z.namespaces[namespace] <= 0 {
		delete(z.namespaces, namespace)
	}
	z.rebuildLocked(st)
	if len(st.slices) == 0 {
		delete(z.services, k)
	}
}

// RetainServices forgets every Service for which keep is false (after a
// relist).
func (z *Zone) RetainServices(keep func(namespace, name string) bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for k, st := range z.services {
		if st.svc == nil || keep(st.svc.Namespace, st.svc.Name) {
			continue
		}
		if z.namespaces[st.svc.Namespace]--; z.namespaces[st.svc.Namespace] <= 0 {
			delete(z.namespaces, st.svc.Namespace)
		}
		st.svc = nil
		z.rebuildLocked(st)
		if len(st.slices) == 0 {
			delete(z.services, k)
		}
	}
}

// UpsertSlice records an EndpointSlice (added or changed). A slice whose
// service label changed must be deleted first (the caller does so).
func (z *Zone) UpsertSlice(s *object.EndpointSlice) {
	if s.Service == "" {
		return
	}
	k := key(s.Namespace, s.Service)
	z.mu.Lock()
	defer z.mu.Unlock()
	st := z.services[k]
	if st == nil {
		st = &service{}
		z.services[k] = st
	}
	if st.slices == nil {
		st.slices = map[string]*object.EndpointSlice{}
	}
	st.slices[s.Name] = s
	z.rebuildLocked(st)
}

// DeleteSlice forgets an EndpointSlice.
func (z *Zone) DeleteSlice(s *object.EndpointSlice) {
	if s.Service == "" {
		return
	}
	k := key(s.Namespace, s.Service)
	z.mu.Lock()
	defer z.mu.Unlock()
	st := z.services[k]
	if st == nil || st.slices[s.Name] == nil {
		return
	}
	delete(st.slices, s.Name)
	z.rebuildLocked(st)
	if st.svc == nil && len(st.slices) == 0 {
		delete(z.services, k)
	}
}

// AddPod records that pod namespace/name has ips.
func (z *Zone) AddPod(namespace, name string, ips []netip.Addr) {
	ref := podRef{namespace, name}
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range ips {
		cur, ok := z.pods[a]
		switch {
		case !ok:
			z.pods[a] = ref
		case cur == ref || slices.Contains(z.podsShared[a], ref):
			continue
		default:
			z.podsShared[a] = append(z.podsShared[a], ref)
		}
		z.podNS[namespace]++
	}
}

// RemovePod forgets pod namespace/name's entries for ips (a pod that
// finished or was deleted; another pod may hold an IP by now).
func (z *Zone) RemovePod(namespace, name string, ips []netip.Addr) {
	ref := podRef{namespace, name}
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range ips {
		z.removePodLocked(a, ref)
	}
}

// RetainPods forgets every pod for which keep is false (after a relist).
func (z *Zone) RetainPods(keep func(namespace, name string) bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for a, ref := range z.pods {
		if !keep(ref.ns, ref.name) {
			z.removePodLocked(a, ref)
		}
	}
	for a, refs := range z.podsShared {
		for _, ref := range refs {
			if !keep(ref.ns, ref.name) {
				z.removePodLocked(a, ref)
			}
		}
	}
}

func (z *Zone) removePodLocked(a netip.Addr, ref podRef) {
	shared := z.podsShared[a]
	if cur, ok := z.pods[a]; ok && cur == ref {
		if len(shared) > 0 {
			z.pods[a] = shared[0]
			shared = shared[1:]
		} else {
			delete(z.pods, a)
		}
	} else if i := slices.Index(shared, ref); i >= 0 {
		shared = slices.Delete(slices.Clone(shared), i, i+1)
	} else {
		return
	}
	if len(shared) == 0 {
		delete(z.podsShared, a)
	} else {
		z.podsShared[a] = shared
	}
	if z.podNS[ref.ns]--; z.podNS[ref.ns] <= 0 {
		delete(z.podNS, ref.ns)
	}
}

// Stats counts what the zone holds.
type Stats struct{ Services, ReverseIPs, PodIPs int }

// Stats returns the zone's sizes.
func (z *Zone) Stats() Stats {
	z.mu.RLock()
	defer z.mu.RUnlock()
	n := 0
	for _, c := range z.namespaces {
		n += int(c)
	}
	return Stats{Services: n, ReverseIPs: len(z.ptrs), PodIPs: len(z.pods)}
}

// rebuildLocked recomputes a service's endpoints and reverse entries.
func (z *Zone) rebuildLocked(st *service) {
	for _, a := range st.rev {
		refs := z.ptrs[a]
		out := refs[:0:0]
		for _, r := range refs {
			if r.st != st {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			delete(z.ptrs, a)
		} else {
			z.ptrs[a] = out
		}
	}
	st.rev, st.eps = nil, nil
	s := st.svc
	if s == nil {
		return
	}
	if s.Headless {
		st.eps = readyEndpoints(s, st.slices)
	}
	for _, a := range s.ClusterIPs {
		z.ptrs[a] = append(z.ptrs[a], ptrRef{st: st})
		st.rev = append(st.rev, a)
	}
	for _, ep := range st.eps {
		z.ptrs[ep.addr] = append(z.ptrs[ep.addr], ptrRef{st: st, label: ep.label})
		st.rev = append(st.rev, ep.addr)
	}
}

// readyEndpoints lists a headless service's endpoints that DNS publishes:
// ready ones (all with publishNotReadyAddresses), each address once, in
// slice name order so that replicas answer in the same order.
func readyEndpoints(s *object.Service, slices map[string]*object.EndpointSlice) []endpoint {
	names := make([]string, 0, len(slices))
	for name := range slices {
		names = append(names, name)
	}
	sort.Strings(names)
	var eps []endpoint
	seen := map[netip.Addr]bool{}
	for _, name := range names {
		sl := slices[name]
		for _, e := range sl.Endpoints {
			if !e.Ready && !s.PublishNotReadyAddresses {
				continue
			}
			for _, a := range e.Addrs {
				if seen[a] {
					continue
				}
				seen[a] = true
				label := e.Hostname
				if !isLabel(label) {
					label = dashed(a)
				}
				eps = append(eps, endpoint{label: label, addr: a, ports: sl.Ports})
			}
		}
	}
	return eps
}

// dashed is the label form of an IP: 10-244-1-5, or fd00--1 for IPv6.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// undashed parses a dashed label back into an IP.
func undashed(label string) (netip.Addr, bool) {
	v4 := strings.Count(label, "-") == 3 && !strings.Contains(label, "--")
	var s string
	if v4 {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4() != v4 {
		return netip.Addr{}, false
	}
	return a, true
}

// isLabel reports whether s is an RFC 1123 label (endpoint hostnames
// should be; a bad one falls back to the dashed IP).
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}
