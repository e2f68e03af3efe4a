package zone

// podNamespaces numbers the namespaces that have pod IPs, so that the pod
// index holds small integers instead of strings: its entries then contain
// no pointers, which the garbage collector does not scan (at 50,000 pods
// that is most of the zone's map memory, visited on every collection).
// A number is reused once its namespace has no pod IPs left.
type podNamespaces struct {
	ids   map[string]uint32
	names []string
	count []int32 // pod IPs per id
	free  []uint32
}

func newPodNamespaces() podNamespaces { return podNamespaces{ids: map[string]uint32{}} }

// id returns ns' number if it has pod IPs.
func (t *podNamespaces) id(ns string) (uint32, bool) {
	id, ok := t.ids[ns]
	return id, ok
}

// open returns ns' number, numbering it if needed; a number whose count
// stays zero must be given back with closeIfEmpty.
func (t *podNamespaces) open(ns string) uint32 {
	if id, ok := t.ids[ns]; ok {
		return id
	}
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.names[id], t.count[id] = ns, 0
	} else {
		id = uint32(len(t.names))
		t.names = append(t.names, ns)
		t.count = append(t.count, 0)
	}
	t.ids[ns] = id
	return id
}

func (t *podNamespaces) add(id uint32) { t.count[id]++ }

// remove counts one pod IP less in id, forgetting the namespace at zero.
func (t *podNamespaces) remove(id uint32) {
	t.count[id]--
	t.closeIfEmpty(id)
}

func (t *podNamespaces) closeIfEmpty(id uint32) {
	if t.count[id] > 0 {
		return
	}
	delete(t.ids, t.names[id])
	t.names[id] = ""
	t.free = append(t.free, id)
}
