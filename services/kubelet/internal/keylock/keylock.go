// Package keylock is a mutex per key (a pod UID), so that work on one pod
// never waits for another's.
package keylock

import "sync"

// Map is a mutex per key, dropped when no one holds or waits on it. The
// zero value is ready to use.
type Map struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	mu   sync.Mutex
	refs int
}

// Lock takes key's mutex and returns its unlock.
func (k *Map) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*entry{}
	}
	l, ok := k.locks[key]
	if !ok {
		l = &entry{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
