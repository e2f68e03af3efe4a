package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// ControllerUIDIndex indexes objects by their controller's UID, and objects
// without a controller under orphanKey(namespace), so that a controller reads
// what it owns or could adopt without scanning its namespace.
const ControllerUIDIndex = "controllerUID"

func orphanKey(namespace string) string { return "orphan/" + namespace }

func controllerUIDIndexFunc(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(m.GetNamespace())}, nil
}

// AddControllerUIDIndex adds the index to inf unless another controller did.
func AddControllerUIDIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerUIDIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{ControllerUIDIndex: controllerUIDIndexFunc})
}

// OwnedOrOrphaned returns the objects controlled by uid and the orphans of
// namespace, typed as T.
func OwnedOrOrphaned[T any](idx cache.Indexer, namespace string, uid types.UID) []T {
	owned, _ := idx.ByIndex(ControllerUIDIndex, string(uid))
	orphans, _ := idx.ByIndex(ControllerUIDIndex, orphanKey(namespace))
	out := make([]T, 0, len(owned)+len(orphans))
	for _, lists := range [][]any{owned, orphans} {
		for _, o := range lists {
			if t, ok := o.(T); ok {
				out = append(out, t)
			}
		}
	}
	return out
}
