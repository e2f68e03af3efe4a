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
	ni    *framework.NodeInfo
	gen   int64
	npods int
	val   int64
	// dom is the node's domain (an index into the counter's domains),
	// -1 without the topology label.
	dom     int32
	counted bool
}

type domainCounter struct {
	topologyKey string
	nodes       []nodeEntry
	totals      map[string]int64
	// members counts the nodes in each domain, so that a domain no node
	// is in any more disappears from totals.
	members map[string]int32
	// ids numbers the domains seen; byID is totals by that number, so
	// that a node's domain total is two slice reads.
	ids   map[string]int32
	names []string
	byID  []int64
	used  int64
}

// View is one counter as of the last Totals/View call; it is valid until
// the next call on the same DomainCounts, and may be read concurrently.
type View struct {
	// Totals are the per-domain sums (shared: do not change).
	Totals map[string]int64
	c      *domainCounter
}

// NodeTotal returns the total of ni's domain and whether ni carries the
// topology key. For a node of the list the counter was updated with it
// reads two slices; for any other (copies made in dry runs) it looks the
// label up.
func (v *View) NodeTotal(ni *framework.NodeInfo) (int64, bool) {
	if c := v.c; c != nil {
		if i := ni.Index; i >= 0 && i < len(c.nodes) && c.nodes[i].ni == ni {
			d := c.nodes[i].dom
			if d < 0 {
				return 0, false
			}
			return c.byID[d], true
		}
		dom, ok := ni.Node().Labels[c.topologyKey]
		if !ok {
			return 0, false
		}
		return v.Totals[dom], true
	}
	return 0, false
}

// Totals returns the per-domain sums of count over nodes that carry
// topologyKey and that count includes (its second result), for the
// counter named key. The map is shared: callers
// must not change it and must not keep it past the cycle.
func (d *DomainCounts) Totals(key, topologyKey string, nodes []*framework.NodeInfo, count func(*framework.NodeInfo) (int64, bool)) map[string]int64 {
	return d.View(key, topologyKey, nodes, count).Totals
}

// View is Totals with per-node access to the domain totals.
func (d *DomainCounts) View(key, topologyKey string, nodes []*framework.NodeInfo, count func(*framework.NodeInfo) (int64, bool)) View {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tick++
	c, ok := d.entries[key]
	if !ok {
		if len(d.entries) >= d.max {
			d.evict()
		}
		c = &domainCounter{topologyKey: topologyKey, totals: map[string]int64{}, members: map[string]int32{}, ids: map[string]int32{}}
		d.entries[key] = c
	}
	c.used = d.tick
	c.update(nodes, count)
	return View{Totals: c.totals, c: c}
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
		clear(c.ids)
		c.names = c.names[:0]
		c.byID = c.byID[:0]
	}
	for i, ni := range nodes {
		e := &c.nodes[i]
		if e.ni == ni && e.gen == ni.Generation && e.npods == len(ni.Pods) {
			continue
		}
		if e.counted {
			c.add(e.dom, -e.val, -1)
		}
		e.ni, e.gen, e.npods = ni, ni.Generation, len(ni.Pods)
		e.dom, e.val, e.counted = -1, 0, false
		name, has := ni.Node().Labels[c.topologyKey]
		if !has {
			continue
		}
		e.dom = c.id(name)
		if e.val, e.counted = count(ni); e.counted {
			c.add(e.dom, e.val, 1)
		} else {
			e.val = 0
		}
	}
}

func (c *domainCounter) id(name string) int32 {
	if id, ok := c.ids[name]; ok {
		return id
	}
	id := int32(len(c.byID))
	c.ids[name] = id
	c.names = append(c.names, name)
	c.byID = append(c.byID, 0)
	return id
}

func (c *domainCounter) add(dom int32, v int64, member int32) {
	c.byID[dom] += v
	domain := c.names[dom]
	m := c.members[domain] + member
	if m <= 0 {
		delete(c.members, domain)
		delete(c.totals, domain)
		c.byID[dom] = 0
		return
	}
	c.members[domain] = m
	c.totals[domain] += v
}
