package controller

import (
	"sync"
	"time"
)

// ExpectationsTimeout bounds how long a controller waits for the watch to
// confirm its own writes before it trusts its cache again.
const ExpectationsTimeout = 5 * time.Minute

// Expectations records, per controller key, the pod creations and deletions
// a controller has issued but not yet seen in its informer. A controller only
// computes a new diff once its expectations are satisfied, so a lagging
// cache never makes it create or delete twice.
type Expectations struct {
	mu    sync.Mutex
	items map[string]*expectation
	now   func() time.Time
}

type expectation struct {
	adds      int
	deletions map[string]bool // pod keys still expected to go
	at        time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations {
	return &Expectations{items: map[string]*expectation{}, now: time.Now}
}

// Satisfied reports whether key has nothing outstanding (or waited too long).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletions) == 0 {
		return true
	}
	return e.now().Sub(x.at) > ExpectationsTimeout
}

// Expect replaces key's expectations with adds creations and the deletion of
// the pods named in deletions.
func (e *Expectations) Expect(key string, adds int, deletions []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: adds, deletions: map[string]bool{}, at: e.now()}
	for _, d := range deletions {
		x.deletions[d] = true
	}
	e.items[key] = x
}

// CreationObserved lowers key's outstanding creations by one; it reports
// whether a creation was outstanding (the controller made this pod).
func (e *Expectations) CreationObserved(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return false
	}
	x.adds--
	return x.adds >= 0
}

// DeletionObserved marks the deletion of podKey, expected by key, as seen;
// it reports whether that deletion was expected.
func (e *Expectations) DeletionObserved(key, podKey string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok || !x.deletions[podKey] {
		return false
	}
	delete(x.deletions, podKey)
	return true
}

// Delete forgets key.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
