package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// NewControllerRef is the ownerReference a controller puts on what it owns.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// Patcher applies a strategic merge patch to the named dependent.
type Patcher func(ctx context.Context, namespace, name string, patch []byte) error

// RefManager adopts orphans that match an owner's selector and releases its
// dependents that no longer match, as Kubernetes' ControllerRefManager does.
type RefManager struct {
	Owner metav1.Object
	GVK   schema.GroupVersionKind
	Patch Patcher
	// CanAdopt checks, once, against the API rather than the cache, that the
	// owner still exists and is not being deleted.
	CanAdopt func(ctx context.Context) error

	once     sync.Once
	adoptErr error
}

// Claim returns those of objs that the owner controls after adoption and
// release; match tells whether an object fits the owner's selector.
func Claim[T metav1.Object](ctx context.Context, m *RefManager, objs []T, match func(T) bool) ([]T, error) {
	var claimed []T
	var errs []error
	for _, o := range objs {
		ok, err := m.claimOne(ctx, o, match(o))
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			claimed = append(claimed, o)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("controller: claim: %v", errs)
	}
	return claimed, nil
}

func (m *RefManager) claimOne(ctx context.Context, o metav1.Object, matches bool) (bool, error) {
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		if ref.UID != m.Owner.GetUID() {
			return false, nil
		}
		if matches {
			return true, nil
		}
		if m.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		err := m.Patch(ctx, o.GetNamespace(), o.GetName(), releasePatch(m.Owner.GetUID(), o.GetUID()))
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			err = nil
		}
		return false, err
	}
	if !matches || m.Owner.GetDeletionTimestamp() != nil || o.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if m.CanAdopt != nil {
		m.once.Do(func() { m.adoptErr = m.CanAdopt(ctx) })
		if m.adoptErr != nil {
			return false, m.adoptErr
		}
	}
	err := m.Patch(ctx, o.GetNamespace(), o.GetName(), adoptPatch(NewControllerRef(m.Owner, m.GVK), o.GetUID()))
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func adoptPatch(ref *metav1.OwnerReference, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []*metav1.OwnerReference{ref}, "uid": uid}})
	return b
}

func releasePatch(owner, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner}}, "uid": uid}})
	return b
}

// RemoveOwnerPatch is a strategic merge patch dropping the ownerReference to
// owner from an object with uid.
func RemoveOwnerPatch(owner, uid types.UID) []byte { return releasePatch(owner, uid) }

// RecheckDeletionTimestamp builds a CanAdopt from a fresh read of the owner.
func RecheckDeletionTimestamp(owner metav1.Object, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("controller: %s/%s is gone (uid %s, now %s)", owner.GetNamespace(), owner.GetName(), owner.GetUID(), fresh.GetUID())
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("controller: %s/%s is being deleted", owner.GetNamespace(), owner.GetName())
		}
		return nil
	}
}
