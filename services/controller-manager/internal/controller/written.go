package controller

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Written remembers, per key, the object a controller's last write
// returned and the resourceVersion it replaced. Until the informer catches
// up, the cache still shows the replaced version; a sync that started from
// it would redo work and have its next write refused as a conflict. Fresh
// swaps such a stale cached copy for the written one.
type Written[T metav1.Object] struct {
	mu    sync.Mutex
	items map[string]written[T]
}

type written[T metav1.Object] struct {
	from string
	obj  T
}

// NewWritten returns an empty Written.
func NewWritten[T metav1.Object]() *Written[T] {
	return &Written[T]{items: map[string]written[T]{}}
}

// Wrote records that a write turned resourceVersion from into obj.
func (w *Written[T]) Wrote(key, from string, obj T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if from == "" || from == obj.GetResourceVersion() {
		return
	}
	// Kept like a cached object: a write's response carries managedFields.
	obj.SetManagedFields(nil)
	w.items[key] = written[T]{from: from, obj: obj}
}

// Fresh returns the written object when cached is the version it replaced,
// else cached (and forgets the key: the cache has caught up or moved on).
func (w *Written[T]) Fresh(key string, cached T) T {
	w.mu.Lock()
	defer w.mu.Unlock()
	x, ok := w.items[key]
	if !ok {
		return cached
	}
	if cached.GetUID() == x.obj.GetUID() && cached.GetResourceVersion() == x.from {
		return x.obj
	}
	delete(w.items, key)
	return cached
}

// Seen reports whether obj, just shown by the informer, is the version the
// last recorded write of key returned: its watch echo, which brings the
// controller nothing new. The cache now holds that version, so the
// written copy is dropped.
func (w *Written[T]) Seen(key string, obj metav1.Object) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	x, ok := w.items[key]
	if !ok || x.obj.GetUID() != obj.GetUID() || x.obj.GetResourceVersion() != obj.GetResourceVersion() {
		return false
	}
	delete(w.items, key)
	return true
}

// Forget drops key.
func (w *Written[T]) Forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.items, key)
}
