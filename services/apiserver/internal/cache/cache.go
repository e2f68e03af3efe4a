// Package cache mirrors every object under the registry prefix in memory,
// fed by a single etcd watch. It serves consistent gets and lists (after
// confirming it has caught up with etcd's current revision) and fans watch
// events out to any number of HTTP watchers without extra etcd watches.
package cache

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/apiserver/internal/storage"
)

// Errors returned by the cache.
var (
	// ErrTooOld means events after the requested revision are no longer in the cache history.
	ErrTooOld = errors.New("cache: resource version too old for the cache history")
	// ErrNotReady means the cache has not finished its initial load.
	ErrNotReady = errors.New("cache: not ready")
	// ErrTimeout means the cache did not reach the wanted revision in time.
	ErrTimeout = errors.New("cache: timed out waiting for revision")
)

// Parser turns a stored object into an Item, extracting labels and field-selector fields.
// resource is the storage resource name (second segment of the key).
type Parser func(resource, key string, value []byte, rv int64) (*Item, error)

// Event is one change to an object.
type Event struct {
	Type watch.EventType
	RV   int64
	// Obj is the new state; for Deleted the last state.
	Obj *Item
	// Prev is the state before the change (nil for Added).
	Prev *Item
	// frame caches the encoded event for watchers that see it unchanged.
	frame *frame
}

// Options tune the cache.
type Options struct {
	// HistorySize is the most events each resource keeps for watches that
	// resume (default 10,000).
	HistorySize int
	// HistoryWindow is how long events stay in a resource's history when it
	// holds more than a few (default DefaultHistoryWindow).
	HistoryWindow time.Duration
	// Now is the clock the history window is measured on (default time.Now).
	Now func() time.Time
	// WatcherBuffer is the per-watcher queue length; a watcher that falls this far behind is closed.
	WatcherBuffer int
	// Skip names key segments under the prefix that hold no objects (allocation records).
	Skip []string
	// Feed delivers the changes after the initial load; nil follows etcd directly.
	Feed Feed
}

// Change is one committed change to a key, as a feed delivers it.
type Change struct {
	Key         string
	Value       []byte // the new value; nil for a deletion
	ModRevision int64  // the revision of the change (of the deletion for deletes)
	Prev        []byte // the value before, when there was one
	PrevRev     int64
	Deleted     bool
}

// Feed follows the committed changes after a revision.
type Feed interface {
	// Follow delivers every change after rev, in order, to sink until ctx ends
	// or the feed cannot vouch for completeness (then the cache reloads).
	Follow(ctx context.Context, rev int64, sink Sink) error
	// RequestProgress asks the feed to report, through Sink.Progress, that
	// everything up to at least rev has been delivered.
	RequestProgress(rev int64)
}

// Sink receives a feed's changes.
type Sink struct{ c *Cache }

// Apply applies changes; rev is the revision they bring the cache to.
func (s Sink) Apply(changes []Change, rev int64) { s.c.apply(changes, rev) }

// Progress records that every change up to rev has been delivered.
func (s Sink) Progress(rev int64) {
	s.c.mu.Lock()
	s.c.setRevLocked(rev)
	s.c.mu.Unlock()
}

// Cache is the in-memory mirror of etcd.
type Cache struct {
	store *storage.Store
	parse Parser
	lg    *zap.Logger
	opts  Options

	mu        sync.RWMutex
	rev       int64
	revNotify chan struct{} // closed and replaced whenever rev advances
	resources map[string]*resourceCache
	ready     bool
	readyCh   chan struct{}

	progress progressRequester
	feed     Feed
}

type resourceCache struct {
	items    *btree.BTreeG[*Item]
	hist     history
	watchers map[*Watcher]struct{}
}

// New creates a cache; Run loads and follows etcd.
func New(store *storage.Store, parse Parser, lg *zap.Logger, opts Options) *Cache {
	if lg == nil {
		lg = zap.NewNop()
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = 10000
	}
	if opts.HistoryWindow <= 0 {
		opts.HistoryWindow = DefaultHistoryWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WatcherBuffer <= 0 {
		opts.WatcherBuffer = 1000
	}
	c := &Cache{
		store:     store,
		parse:     parse,
		lg:        lg,
		opts:      opts,
		revNotify: make(chan struct{}),
		resources: map[string]*resourceCache{},
		readyCh:   make(chan struct{}),
	}
	c.progress.cache = c
	c.feed = opts.Feed
	if c.feed == nil {
		c.feed = &etcdFeed{store: store}
	}
	return c
}

// Ready is closed once the initial load is done.
func (c *Cache) Ready() <-chan struct{} { return c.readyCh }

// Revision is the last revision the cache has applied.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

func lessItem(a, b *Item) bool { return a.Key < b.Key }

func (c *Cache) resourceLocked(resource string) *resourceCache {
	rc := c.resources[resource]
	if rc == nil {
		rc = &resourceCache{
			items:    btree.NewG(32, lessItem),
			hist:     history{start: c.rev},
			watchers: map[*Watcher]struct{}{},
		}
		c.resources[resource] = rc
	}
	return rc
}

// resourceOf extracts the storage resource name from a key.
func (c *Cache) resourceOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, c.store.Prefix+"/")
	if !ok {
		return "", false
	}
	res, _, ok := strings.Cut(rest, "/")
	if ok && slices.Contains(c.opts.Skip, res) {
		return "", false
	}
	return res, ok
}

// Run loads every object and then follows etcd until ctx ends. When the
// watch breaks (for example the cache fell behind a compaction) it reloads
// and closes all watchers so clients re-list.
func (c *Cache) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := c.load(ctx)
		if err != nil {
			c.lg.Warn("cache load failed", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		started := time.Now()
		err = c.feed.Follow(ctx, rev, Sink{c})
		if ctx.Err() != nil {
			break
		}
		c.lg.Warn("cache feed ended, reloading", zap.Error(err))
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
			continue
		}
		// A feed that fails at once (the bus not there yet) must not turn
		// into a loop of full loads.
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	c.mu.Lock()
	for _, rc := range c.resources {
		for w := range rc.watchers {
			w.closeLocked()
		}
	}
	c.mu.Unlock()
}

// load reads every object at one revision and replaces the cache contents.
func (c *Cache) load(ctx context.Context) (int64, error) {
	prefix := c.store.Prefix + "/"
	var rev int64
	fresh := map[string]*resourceCache{}
	start := prefix
	for {
		page, err := c.store.List(ctx, prefix, start, rev, 10000)
		if err != nil {
			return 0, err
		}
		rev = page.Revision
		for _, kv := range page.KVs {
			res, ok := c.resourceOf(kv.Key)
			if !ok {
				continue
			}
			it, err := c.parse(res, kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				c.lg.Warn("skipping undecodable object", zap.String("key", kv.Key), zap.Error(err))
				continue
			}
			rc := fresh[res]
			if rc == nil {
				rc = &resourceCache{items: btree.NewG(32, lessItem), watchers: map[*Watcher]struct{}{}}
				fresh[res] = rc
			}
			rc.items.ReplaceOrInsert(it)
		}
		if !page.More || len(page.KVs) == 0 {
			break
		}
		start = page.KVs[len(page.KVs)-1].Key + "\x00"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rc := range c.resources {
		for w := range rc.watchers {
			w.closeLocked()
		}
	}
	for _, rc := range fresh {
		rc.hist.start = rev
	}
	c.resources = fresh
	c.setRevLocked(rev)
	if !c.ready {
		c.ready = true
		close(c.readyCh)
	}
	c.lg.Info("cache loaded", zap.Int64("revision", rev))
	return rev, nil
}

func (c *Cache) setRevLocked(rev int64) {
	if rev <= c.rev {
		return
	}
	c.rev = rev
	close(c.revNotify)
	c.revNotify = make(chan struct{})
}

// EventOf turns a change into the event watchers see, parsing the stored
// values; ok is false for a deletion whose last state is unknown.
func EventOf(parse Parser, resource string, ch Change) (ev Event, ok bool, err error) {
	return eventOf(parse, resource, ch, nil)
}

// eventOf is EventOf reusing known for the state before the change when it
// is that state (same key and revision) instead of parsing it again, so an
// event's Prev is the previous event's Obj, not a second copy of it.
func eventOf(parse Parser, resource string, ch Change, known *Item) (ev Event, ok bool, err error) {
	var prev *Item
	if ch.Prev != nil {
		if known != nil && known.RV == ch.PrevRev && known.Key == ch.Key {
			prev = known
		} else if p, err := parse(resource, ch.Key, ch.Prev, ch.PrevRev); err == nil {
			prev = p
		}
	}
	if ch.Deleted {
		if prev == nil {
			return Event{}, false, nil
		}
		return Event{Type: watch.Deleted, RV: ch.ModRevision, Obj: prev, Prev: prev, frame: new(frame)}, true, nil
	}
	it, err := parse(resource, ch.Key, ch.Value, ch.ModRevision)
	if err != nil {
		return Event{}, false, err
	}
	typ := watch.Modified
	if prev == nil {
		typ = watch.Added
	}
	return Event{Type: typ, RV: ch.ModRevision, Obj: it, Prev: prev, frame: new(frame)}, true, nil
}

func (c *Cache) apply(changes []Change, headerRev int64) {
	type parsed struct {
		res string
		ev  Event
	}
	type change struct {
		Change
		res string
		// known is the cached object, the state before the change if it
		// is current (or an earlier change of this batch is).
		known *Item
	}
	ours := make([]change, 0, len(changes))
	c.mu.RLock()
	for _, ch := range changes {
		res, ok := c.resourceOf(ch.Key)
		if !ok {
			continue
		}
		var known *Item
		if rc := c.resources[res]; rc != nil && ch.Prev != nil {
			known, _ = rc.items.Get(&Item{Key: ch.Key})
		}
		ours = append(ours, change{ch, res, known})
	}
	c.mu.RUnlock()
	var latest map[string]*Item // the newest state of a key within this batch
	// Decode outside the lock so readers are not held up.
	out := make([]parsed, 0, len(ours))
	for _, ch := range ours {
		if it, ok := latest[ch.Key]; ok {
			ch.known = it
		}
		ev, ok, err := eventOf(c.parse, ch.res, ch.Change, ch.known)
		if err != nil {
			c.lg.Warn("skipping undecodable object", zap.String("key", ch.Key), zap.Error(err))
		}
		if ok {
			out = append(out, parsed{ch.res, ev})
			if len(ours) > 1 {
				if latest == nil {
					latest = map[string]*Item{}
				}
				latest[ch.Key] = ev.Obj
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now().UnixNano()
	for _, p := range out {
		rc := c.resourceLocked(p.res)
		if p.ev.Type == watch.Deleted {
			rc.items.Delete(p.ev.Obj)
		} else {
			rc.items.ReplaceOrInsert(p.ev.Obj)
		}
		rc.hist.record(p.ev, now, c.opts.HistoryWindow, c.opts.HistorySize)
		for w := range rc.watchers {
			w.offerLocked(p.ev)
		}
	}
	c.setRevLocked(headerRev)
}

// WaitForRevision blocks until the cache has applied rev or ctx/timeout ends.
func (c *Cache) WaitForRevision(ctx context.Context, rev int64, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Writes outside the prefix advance etcd's revision without an event for
	// us; a progress request makes the watch report where it is. It is
	// repeated now and then in case the watch was not ready to take it.
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for {
		c.mu.RLock()
		cur, ch, ready := c.rev, c.revNotify, c.ready
		c.mu.RUnlock()
		if ready && cur >= rev {
			return nil
		}
		notReady := c.readyCh
		if ready {
			notReady = nil // closed for good once ready; must not spin on it
			c.progress.request(rev)
		}
		select {
		case <-ch:
		case <-notReady:
		case <-retry.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return ErrTimeout
		}
	}
}

// WaitFresh waits until the cache has caught up with etcd's current revision,
// making reads from it linearizable.
func (c *Cache) WaitFresh(ctx context.Context) (int64, error) {
	rev, err := c.progress.currentRevision(ctx)
	if err != nil {
		return 0, err
	}
	if err := c.WaitForRevision(ctx, rev, 3*time.Second); err != nil {
		return 0, err
	}
	return rev, nil
}

// Get returns the item under key from the cache.
func (c *Cache) Get(resource, key string) (*Item, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rc := c.resources[resource]
	if rc == nil {
		return nil, c.rev
	}
	it, ok := rc.items.Get(&Item{Key: key})
	if !ok {
		return nil, c.rev
	}
	return it, c.rev
}

// List returns the items whose key starts with prefix and after startKey
// (exclusive when non-empty) that match, in key order, at most limit (0 = all),
// with the cache revision they reflect and whether more matching items remain.
func (c *Cache) List(resource, prefix, startKey string, match func(*Item) bool, limit int) ([]*Item, int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rc := c.resources[resource]
	if rc == nil {
		return nil, c.rev, false
	}
	var out []*Item
	more := false
	from := prefix
	if startKey != "" {
		from = startKey
	}
	rc.items.AscendGreaterOrEqual(&Item{Key: from}, func(it *Item) bool {
		if !strings.HasPrefix(it.Key, prefix) {
			return false
		}
		if startKey != "" && it.Key == startKey {
			return true
		}
		if match != nil && !match(it) {
			return true
		}
		if limit > 0 && len(out) == limit {
			more = true
			return false
		}
		out = append(out, it)
		return true
	})
	return out, c.rev, more
}

// CountAfter returns how many objects below prefix sort after key.
func (c *Cache) CountAfter(resource, prefix, key string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rc := c.resources[resource]
	if rc == nil {
		return 0
	}
	n := 0
	rc.items.AscendGreaterOrEqual(&Item{Key: key + "\x00"}, func(it *Item) bool {
		if !strings.HasPrefix(it.Key, prefix) {
			return false
		}
		n++
		return true
	})
	return n
}

// Count returns the number of cached objects of a resource.
func (c *Cache) Count(resource string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if rc := c.resources[resource]; rc != nil {
		return rc.items.Len()
	}
	return 0
}
