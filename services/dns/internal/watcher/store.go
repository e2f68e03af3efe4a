package watcher

import (
	"fmt"
	"sync/atomic"

	"k8s.io/client-go/tools/cache"
)

// store is a reflector's store that keeps nothing itself: it trims each
// object (object.Transformer) and hands it to the zone, whose index is the
// only copy drover-dns keeps. A shared informer would add an indexer of
// the same objects, key strings, a namespace index, a delta queue and a
// notification buffer: at 10,000 Services and 50,000 pods that is more
// memory than the zone itself. Lists arrive trimmed already (see
// pagedListWatch); watch events are trimmed here.
type store struct {
	transform cache.TransformFunc
	// upsert and remove get trimmed objects; replace gets the trimmed
	// objects of a (re)list, which are then all there is.
	upsert  func(o any) error
	remove  func(o any) error
	replace func(list []any) error
	synced  atomic.Bool
}

var _ cache.ReflectorStore = (*store)(nil)

func (s *store) compact(obj any) (any, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	return s.transform(obj)
}

// Add records an object.
func (s *store) Add(obj any) error { return s.Update(obj) }

// Update records an object's new state.
func (s *store) Update(obj any) error {
	o, err := s.compact(obj)
	if err != nil {
		return err
	}
	return s.upsert(o)
}

// Delete forgets an object.
func (s *store) Delete(obj any) error {
	o, err := s.compact(obj)
	if err != nil {
		return err
	}
	return s.remove(o)
}

// Replace makes the zone hold exactly list.
func (s *store) Replace(list []any, _ string) error {
	for i, obj := range list {
		o, err := s.compact(obj)
		if err != nil {
			return err
		}
		list[i] = o
	}
	if err := s.replace(list); err != nil {
		return err
	}
	s.synced.Store(true)
	return nil
}

// Resync has nothing to do: there are no handlers to replay to.
func (s *store) Resync() error { return nil }

// HasSynced reports whether the first list has reached the zone.
func (s *store) HasSynced() bool { return s.synced.Load() }

// ErrUnexpected is returned when a store gets an object of the wrong type.
var ErrUnexpected = fmt.Errorf("watcher: unexpected object")

func unexpected(o any) error { return fmt.Errorf("%w: %T", ErrUnexpected, o) }
