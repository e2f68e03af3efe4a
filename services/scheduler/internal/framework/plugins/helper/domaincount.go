package helper

import (
	"sync"

	"drover.dev/scheduler/internal/framework"
)

// DomainCounts keeps, across scheduling cycles, per-topology-domain sums
// of a per-node value (such as "pods matching this selector"), so that a
// plugin does not rescan every pod of the cluster in every cycle: only
// nodes whose NodeInfo changed since the last cycle (the snapshot updates
// its NodeInfos in place and bumps their Generation) are counted again.
// Entries are keyed by a string that must identify the counting function
// completely (selector, namespaces, topology key); the least recently
// used entry is dropped beyond a fixed number.
type DomainCounts struct {
	mu      sync.Mutex
	max     int
	tick    int64
	entries map[string]*domainCounter
}

// NewDomainCounts keeps at most max counters.
func NewDomainCounts(max int) *DomainCounts {
	return &DomainCounts{max: max, entries: map[string]*domainCounter{}}
}

type nodeEntry struct {
	ni     *framework.NodeInfo
	gen    int64
	npods  int
	val    int64
	domain string
	has    bool
}

type domainCounter struct {
	topologyKey string
	nodes       []nodeEntry
	totals      map[string]int64
	// members counts the nodes in each domain, so that a domain no node
	// is in any more disappears from totals.
	members map[string]int32
	used    int64
}

// Totals returns the per-domain sums of count over nodes that carry
// topologyKey and that count includes (its second result), for the
// counter named key. The map is shared: callers
// must not change it and must not keep it past the cycle.
func (d *DomainCounts) Totals(key, topologyKey string, nodes []*framework.NodeInfo, count func(*framework.NodeInfo) (int64, bool)) map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tick++
	c, ok := d.entries[key]
	if !ok {
		if len(d.entries) >= d.max {
			d.evict()
		}
		c = &domainCounter{topologyKey: topologyKey, totals: map[string]int64{}, members: map[string]int32{}}
		d.entries[key] = c
	}
	c.used = d.tick
	c.update(nodes, count)
	return c.totals
}

func (d *DomainCounts) evict() {
	var oldest string
	var at int64
	for k, c := range d.entries {
		if oldest == "" || c.used < at {
			oldest, at = k, c.used
		}
	}
	delete(d.entries, oldest)
}

// update recounts the nodes that changed. A node list of another length
// (nodes added or removed) starts the counter afresh.
func (c *domainCounter) update(nodes []*framework.NodeInfo, count func(*framework.NodeInfo) (int64, bool)) {
	if len(c.nodes) != len(nodes) {
		c.nodes = make([]nodeEntry, len(nodes))
		clear(c.totals)
		clear(c.members)
	}
	for i, ni := range nodes {
		e := &c.nodes[i]
		if e.ni == ni && e.gen == ni.Generation && e.npods == len(ni.Pods) {
			continue
		}
		if e.has {
			c.add(e.domain, -e.val, -1)
		}
		e.ni, e.gen, e.npods = ni, ni.Generation, len(ni.Pods)
		e.domain, e.has = ni.Node().Labels[c.topologyKey]
		e.val = 0
		if e.has {
			e.val, e.has = count(ni)
		}
		if e.has {
			c.add(e.domain, e.val, 1)
		}
	}
}

func (c *domainCounter) add(domain string, v int64, member int32) {
	m := c.members[domain] + member
	if m <= 0 {
		delete(c.members, domain)
		delete(c.totals, domain)
		return
	}
	c.members[domain] = m
	c.totals[domain] += v
}
