package pods

import (
	"sync"
	"time"
)

// Restart back-off as Kubernetes' kubelet: 10 s doubling to 5 min, reset
// once a container has run for 10 minutes.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// backoff tracks restart delays per key (pod uid/container or image).
type backoff struct {
	mu      sync.Mutex
	initial time.Duration
	max     time.Duration
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time // when the delay started
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// wait returns how long key must still wait after an event at since
// (a container's finish or a failed pull); 0 means go.
func (b *backoff) wait(key string, since, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return 0
	}
	if d := since.Add(e.delay).Sub(now); d > 0 {
		return d
	}
	return 0
}

// next records a restart (or retry) now and doubles the delay.
func (b *backoff) next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		b.entries[key] = &backoffEntry{delay: b.initial, last: now}
		return
	}
	e.delay *= 2
	if e.delay > b.max {
		e.delay = b.max
	}
	e.last = now
}

// current is key's delay (0 when none).
func (b *backoff) current(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// last is when key's delay last started (zero when none).
func (b *backoff) last(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.last
	}
	return time.Time{}
}

func (b *backoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}

// forget drops every key with prefix (a pod's uid).
func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}
