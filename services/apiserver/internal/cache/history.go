package cache

import (
	"iter"
	"time"
)

// History sizing. Like Kubernetes' watch cache, a resource keeps about the
// last 75 s of its events for watches that resume, at least historyMin of
// them and at most Options.HistorySize; a watch resuming from further back
// is served from etcd. A fixed ring of HistorySize events held that many
// old object versions for good: an idle cluster's lease renewals alone
// filled 10,000 slots within two hours.
const (
	DefaultHistoryWindow = 75 * time.Second
	historyMin           = 100
	historyInitialCap    = 16
)

// history is a resource's recent events in revision order: a ring that
// grows while its oldest event is younger than the window (up to limit
// events), drops events older than the window beyond historyMin, and
// shrinks when mostly empty.
type history struct {
	ring []Event
	at   []int64 // when each slot's event was recorded, unix ns
	head int     // slot of the oldest event
	n    int
	// start is the revision after which every event is in the ring.
	start int64
}

// record appends ev, recorded at now (unix ns).
func (h *history) record(ev Event, now int64, window time.Duration, limit int) {
	keep := min(historyMin, limit)
	for cutoff := now - int64(window); h.n >= keep && h.at[h.head] < cutoff; {
		h.evictOldest()
	}
	if h.n == len(h.ring) {
		if len(h.ring) < limit {
			h.resize(min(limit, max(2*len(h.ring), historyInitialCap)))
		} else {
			h.evictOldest()
		}
	} else if len(h.ring) > historyInitialCap && h.n < len(h.ring)/4 {
		h.resize(max(len(h.ring)/2, historyInitialCap))
	}
	slot := (h.head + h.n) % len(h.ring)
	h.ring[slot], h.at[slot] = ev, now
	h.n++
	if h.n > historyFrames {
		// Older events are only replayed to watchers that resume; their
		// encoded frames would cost the history's memory twice.
		h.ring[(h.head+h.n-1-historyFrames)%len(h.ring)].frame = nil
	}
}

func (h *history) evictOldest() {
	h.start = h.ring[h.head].RV
	h.ring[h.head], h.at[h.head] = Event{}, 0
	h.head = (h.head + 1) % len(h.ring)
	h.n--
}

// resize moves the events into a ring of capacity slots (never fewer than
// the events held).
func (h *history) resize(capacity int) {
	capacity = max(capacity, h.n)
	ring, at := make([]Event, capacity), make([]int64, capacity)
	for i := range h.n {
		j := (h.head + i) % len(h.ring)
		ring[i], at[i] = h.ring[j], h.at[j]
	}
	h.ring, h.at, h.head = ring, at, 0
}

// events yields the held events, oldest first.
func (h *history) events() iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for i := range h.n {
			if !yield(h.ring[(h.head+i)%len(h.ring)]) {
				return
			}
		}
	}
}

// historyFrames is how many of the newest history events keep their
// encoded frame (events still queued to watchers keep theirs regardless).
const historyFrames = 256
