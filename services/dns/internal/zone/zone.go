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
	"hash/maphash"
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

	podSeed maphash.Seed

	mu sync.RWMutex
	// services are keyed "<name>.<namespace>", the labels a query has.
	services   map[string]*service
	namespaces map[string]int32 // Services per namespace
	// ptrs holds the first reverse entry of each address, ptrsShared the
	// further ones (an endpoint of several headless services): almost
	// every address has one, which then costs no slice.
	ptrs       ipIndex[ptrRef]
	ptrsShared ipIndex[[]ptrRef]
	// pods holds the pod that has each IP; podsShared the further ones
	// that have the same IP (host-network pods share their node's).
	pods       ipIndex[podRef]
	podsShared ipIndex[[]podRef]
	podNS      podNamespaces
}

// podRef identifies a pod in 8 bytes without pointers: its namespace's
// number (podNS) and a hash of its name. Verified pod records ask only for
// the namespace; the name only tells apart pods of one namespace that
// share an IP (host-network pods on one node), a handful, among which a
// 32-bit hash (seeded per process) collides with odds of about 1 in 10^9.
type podRef struct {
	ns   uint32
	name uint32
}

func (z *Zone) podName(name string) uint32 { return uint32(maphash.String(z.podSeed, name)) }

// service is one Service's state: its object and slices (the informers'
// compact objects, shared), and for a headless service its ready endpoints.
// Its reverse entries are its ClusterIPs and eps.
type service struct {
	svc    *object.Service
	slices map[string]*object.EndpointSlice
	eps    []endpoint
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
		podSeed:    maphash.MakeSeed(),
		ptrs:       newIPIndex[ptrRef](),
		ptrsShared: newIPIndex[[]ptrRef](),
		pods:       newIPIndex[podRef](),
		podsShared: newIPIndex[[]podRef](),
		podNS:      newPodNamespaces(),
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
	z.unlinkLocked(st)
	st.svc = s
	z.linkLocked(st)
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
	z.unlinkLocked(st)
	st.svc = nil
	if z.namespaces[namespace]--; z.namespaces[namespace] <= 0 {
		delete(z.namespaces, namespace)
	}
	z.linkLocked(st)
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
		z.unlinkLocked(st)
		st.svc = nil
		z.linkLocked(st)
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
	z.unlinkLocked(st)
	st.slices[s.Name] = s
	z.linkLocked(st)
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
	z.unlinkLocked(st)
	delete(st.slices, s.Name)
	z.linkLocked(st)
	if st.svc == nil && len(st.slices) == 0 {
		delete(z.services, k)
	}
}

// AddPod records that pod namespace/name has ips.
func (z *Zone) AddPod(namespace, name string, ips []netip.Addr) {
	h := z.podName(name)
	z.mu.Lock()
	defer z.mu.Unlock()
	z.addPodLocked(namespace, h, ips)
}

func (z *Zone) addPodLocked(namespace string, name uint32, ips []netip.Addr) {
	ref := podRef{ns: z.podNS.open(namespace), name: name}
	for _, a := range ips {
		cur, ok := z.pods.get(a)
		shared, _ := z.podsShared.get(a)
		switch {
		case !ok:
			z.pods.set(a, ref)
		case cur == ref || slices.Contains(shared, ref):
			continue
		default:
			z.podsShared.set(a, append(shared, ref))
		}
		z.podNS.add(ref.ns)
	}
	z.podNS.closeIfEmpty(ref.ns)
}

// RemovePod forgets pod namespace/name's entries for ips (a pod that
// finished or was deleted; another pod may hold an IP by now).
func (z *Zone) RemovePod(namespace, name string, ips []netip.Addr) {
	h := z.podName(name)
	z.mu.Lock()
	defer z.mu.Unlock()
	id, ok := z.podNS.id(namespace)
	if !ok {
		return // no pod IPs in that namespace
	}
	for _, a := range ips {
		z.removePodLocked(a, podRef{ns: id, name: h})
	}
}

// ReplacePods makes the zone's pod IPs exactly those of running (after a
// relist): pods not in it are forgotten.
func (z *Zone) ReplacePods(running []*object.Pod) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.pods.len() > 0 { // a relist; the first list has nothing to forget
		keep := make(map[podRef]struct{}, len(running))
		for _, p := range running {
			if id, ok := z.podNS.id(p.Namespace); ok {
				keep[podRef{ns: id, name: z.podName(p.Name)}] = struct{}{}
			}
		}
		for a, ref := range z.pods.all() {
			// Removing the holder promotes the next pod with the IP,
			// which the loop over podsShared no longer sees.
			for ok := true; ok; ref, ok = z.pods.get(a) {
				if _, kept := keep[ref]; kept {
					break
				}
				z.removePodLocked(a, ref)
			}
		}
		for a, refs := range z.podsShared.all() {
			for _, ref := range refs {
				if _, ok := keep[ref]; !ok {
					z.removePodLocked(a, ref)
				}
			}
		}
	}
	for _, p := range running {
		z.addPodLocked(p.Namespace, z.podName(p.Name), p.IPs)
	}
}

func (z *Zone) removePodLocked(a netip.Addr, ref podRef) {
	shared, _ := z.podsShared.get(a)
	if cur, ok := z.pods.get(a); ok && cur == ref {
		if len(shared) > 0 {
			z.pods.set(a, shared[0])
			shared = shared[1:]
		} else {
			z.pods.delete(a)
		}
	} else if i := slices.Index(shared, ref); i >= 0 {
		shared = slices.Delete(slices.Clone(shared), i, i+1)
	} else {
		return
	}
	if len(shared) == 0 {
		z.podsShared.delete(a)
	} else {
		z.podsShared.set(a, shared)
	}
	z.podNS.remove(ref.ns)
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
	return Stats{Services: n, ReverseIPs: z.ptrs.len(), PodIPs: z.pods.len()}
}

// unlinkLocked removes a service's reverse entries before it changes;
// linkLocked recomputes its endpoints and adds its entries after.
func (z *Zone) unlinkLocked(st *service) {
	if st.svc != nil {
		for _, a := range st.svc.ClusterIPs {
			z.removePtrLocked(a, st)
		}
	}
	for _, ep := range st.eps {
		z.removePtrLocked(ep.addr, st)
	}
	st.eps = nil
}

func (z *Zone) linkLocked(st *service) {
	s := st.svc
	if s == nil {
		return
	}
	if s.Headless {
		st.eps = readyEndpoints(s, st.slices)
	}
	for _, a := range s.ClusterIPs {
		z.addPtrLocked(a, ptrRef{st: st})
	}
	for _, ep := range st.eps {
		z.addPtrLocked(ep.addr, ptrRef{st: st, label: ep.label})
	}
}

func (z *Zone) addPtrLocked(a netip.Addr, ref ptrRef) {
	if _, ok := z.ptrs.get(a); !ok {
		z.ptrs.set(a, ref)
		return
	}
	shared, _ := z.ptrsShared.get(a)
	z.ptrsShared.set(a, append(shared, ref))
}

// removePtrLocked removes every entry of a for st.
func (z *Zone) removePtrLocked(a netip.Addr, st *service) {
	first, ok := z.ptrs.get(a)
	if !ok {
		return
	}
	shared, _ := z.ptrsShared.get(a)
	var rest []ptrRef
	for _, r := range shared {
		if r.st != st {
			rest = append(rest, r)
		}
	}
	if first.st == st {
		if len(rest) == 0 {
			z.ptrs.delete(a)
			z.ptrsShared.delete(a)
			return
		}
		first, rest = rest[0], rest[1:]
		z.ptrs.set(a, first)
	}
	if len(rest) == 0 {
		z.ptrsShared.delete(a)
	} else {
		z.ptrsShared.set(a, rest)
	}
}

// ptrRefsLocked lists a's reverse entries.
func (z *Zone) ptrRefsLocked(a netip.Addr) []ptrRef {
	first, ok := z.ptrs.get(a)
	if !ok {
		return nil
	}
	shared, _ := z.ptrsShared.get(a)
	return append([]ptrRef{first}, shared...)
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
