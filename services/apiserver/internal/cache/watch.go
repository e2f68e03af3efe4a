package cache

import (
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/watch"
)

// WatchRequest says what a watcher wants.
type WatchRequest struct {
	// Resource is the storage resource name.
	Resource string
	// Prefix limits the watch to keys below it (a namespace or the whole resource).
	Prefix string
	// Match filters objects (label and field selectors); nil matches all.
	Match func(*Item) bool
	// InitialState asks for every current object as an Added event first.
	InitialState bool
	// FromRV asks for every change after this revision (ignored with InitialState).
	FromRV int64
}

// Watcher receives the events of one watch. Its queue grows with what it
// has not taken yet, up to Options.WatcherBuffer: a thousand idle watchers
// cost next to nothing, where a channel of that capacity each held ~48 KB
// apiece once the ring had gone round.
type Watcher struct {
	c      *Cache
	rc     *resourceCache
	req    WatchRequest
	closed bool // unregistered (under c.mu)

	mu    sync.Mutex
	queue []Event
	ended bool          // nothing follows what is queued
	ready chan struct{} // holds a token while there is something to Take

	// Initial holds the events to send before the live ones: the current
	// state or the history after FromRV.
	Initial []Event
	// StartRV is the revision the watcher is at after Initial.
	StartRV int64
}

// Watch registers a watcher. It fails with ErrTooOld when FromRV is older
// than the history the cache keeps; the caller then falls back to etcd.
func (c *Cache) Watch(req WatchRequest) (*Watcher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, ErrNotReady
	}
	rc := c.resourceLocked(req.Resource)
	w := &Watcher{c: c, rc: rc, req: req, ready: make(chan struct{}, 1), StartRV: c.rev}
	if req.InitialState {
		rc.items.AscendGreaterOrEqual(&Item{Key: req.Prefix}, func(it *Item) bool {
			if !strings.HasPrefix(it.Key, req.Prefix) {
				return false
			}
			if req.Match == nil || req.Match(it) {
				w.Initial = append(w.Initial, Event{Type: watch.Added, RV: it.RV, Obj: it})
			}
			return true
		})
	} else if req.FromRV < c.rev {
		if req.FromRV < rc.hist.start {
			return nil, ErrTooOld
		}
		for ev := range rc.hist.events() {
			if ev.RV <= req.FromRV {
				continue
			}
			if out, ok := w.convert(ev); ok {
				w.Initial = append(w.Initial, out)
			}
		}
	}
	rc.watchers[w] = struct{}{}
	return w, nil
}

// Ready receives when there are events to Take or the watcher has ended.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Take returns the queued live events, reusing spare (events the caller
// is done with) for the queue that follows. ended reports that no event
// follows these: the watcher fell too far behind, was stopped, or the
// cache reloaded, and the client must resume or re-list.
func (w *Watcher) Take(spare []Event) (events []Event, ended bool) {
	clear(spare)
	if cap(spare) > maxSpareEvents {
		spare = nil // a burst's buffer goes back to the heap
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	events, w.queue = w.queue, spare[:0]
	return events, w.ended
}

// maxSpareEvents bounds the queue a watcher keeps between bursts.
const maxSpareEvents = 64

// Pending reports whether events are queued.
func (w *Watcher) Pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) > 0
}

func (w *Watcher) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// Stop unregisters the watcher.
func (w *Watcher) Stop() {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.closeLocked()
}

func (w *Watcher) closeLocked() {
	if w.closed {
		return
	}
	w.closed = true
	delete(w.rc.watchers, w)
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	w.signal()
}

func (w *Watcher) matches(it *Item) bool {
	if it == nil || !strings.HasPrefix(it.Key, w.req.Prefix) {
		return false
	}
	return w.req.Match == nil || w.req.Match(it)
}

// convert turns a change into what this watcher sees.
func (w *Watcher) convert(ev Event) (Event, bool) {
	return Transition(ev, w.matches)
}

// Transition turns a change into what a watcher with the filter matches
// sees: an object that starts matching is Added, one that stops matching
// is Deleted, one it never matched is not seen at all.
func Transition(ev Event, matches func(*Item) bool) (Event, bool) {
	cur := ev.Type != watch.Deleted && matches(ev.Obj)
	prev := ev.Prev != nil && matches(ev.Prev)
	switch {
	case ev.Type == watch.Deleted && prev:
		return ev, true
	case cur && (prev || ev.Type == watch.Added):
		return ev, true // as it happened, sharing its encoded frame
	case cur && !prev:
		return Event{Type: watch.Added, RV: ev.RV, Obj: ev.Obj}, true
	case !cur && prev && ev.Type == watch.Modified:
		return Event{Type: watch.Deleted, RV: ev.RV, Obj: ev.Prev, Prev: ev.Prev}, true
	}
	return Event{}, false
}

func (w *Watcher) offerLocked(ev Event) {
	if w.closed {
		return
	}
	out, ok := w.convert(ev)
	if !ok {
		return
	}
	w.mu.Lock()
	full := len(w.queue) >= w.c.opts.WatcherBuffer
	if !full {
		w.queue = append(w.queue, out)
	}
	w.mu.Unlock()
	if full {
		// A watcher this far behind would hold the cache back; the client resumes.
		w.c.lg.Debug("closing slow watcher")
		w.closeLocked()
		return
	}
	w.signal()
}
