package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef identifies an object of the graph.
type objectRef struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

func (r objectRef) gvk() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(r.APIVersion, r.Kind)
}

// node is an object in the ownership graph. A virtual node stands for an
// owner known only from a dependent's ownerReferences; its existence is
// checked against the API.
type node struct {
	ref        objectRef
	owners     []metav1.OwnerReference
	dependents map[types.UID]*node
	virtual    bool
	// beingDeleted: deletionTimestamp is set; deletingDependents: and the
	// foregroundDeletion finalizer is present.
	beingDeleted       bool
	deletingDependents bool
}

// blocking returns the dependents whose reference to n blocks its deletion.
func (n *node) blocking() []*node {
	var out []*node
	for _, d := range n.dependents {
		for _, o := range d.owners {
			if o.UID == n.ref.UID && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				out = append(out, d)
			}
		}
	}
	return out
}

type eventType int

const (
	addEvent eventType = iota
	updateEvent
	deleteEvent
)

type event struct {
	typ eventType
	obj metav1.Object
	gvk schema.GroupVersionKind
}

func hasFinalizer(o metav1.Object, f string) bool { return slices.Contains(o.GetFinalizers(), f) }

// processEvent updates the graph and queues the work an event implies.
// Called with c.mu held.
func (c *Controller) processEvent(ev event) {
	uid := ev.obj.GetUID()
	existing := c.nodes[uid]
	if ev.typ == deleteEvent {
		if existing == nil {
			return
		}
		c.removeNode(existing)
		return
	}
	ref := objectRef{APIVersion: ev.gvk.GroupVersion().String(), Kind: ev.gvk.Kind, Namespace: ev.obj.GetNamespace(), Name: ev.obj.GetName(), UID: uid}
	owners := slices.Clone(ev.obj.GetOwnerReferences())
	if existing == nil {
		existing = &node{ref: ref}
		c.nodes[uid] = existing
		c.addToOwners(existing, owners)
	} else {
		if existing.virtual {
			existing.virtual = false
			existing.ref = ref
		}
		c.updateOwners(existing, owners)
	}
	existing.owners = owners
	existing.beingDeleted = ev.obj.GetDeletionTimestamp() != nil
	existing.deletingDependents = existing.beingDeleted && hasFinalizer(ev.obj, metav1.FinalizerDeleteDependents)
	if existing.beingDeleted && hasFinalizer(ev.obj, metav1.FinalizerOrphanDependents) {
		c.attemptToOrphan.Add(string(uid))
	}
	if existing.deletingDependents {
		for _, d := range existing.dependents {
			c.attemptToDelete.Add(string(d.ref.UID))
		}
		c.attemptToDelete.Add(string(uid))
	}
}

func (c *Controller) addToOwners(n *node, owners []metav1.OwnerReference) {
	for _, o := range owners {
		owner := c.nodes[o.UID]
		if owner == nil {
			owner = &node{
				ref:     objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: n.ref.Namespace, Name: o.Name, UID: o.UID},
				virtual: true,
			}
			c.nodes[o.UID] = owner
			c.attemptToDelete.Add(string(o.UID))
		}
		if owner.dependents == nil {
			// Most objects (pods) own nothing: allocate on first dependent.
			owner.dependents = map[types.UID]*node{}
		}
		owner.dependents[n.ref.UID] = n
	}
}

func (c *Controller) updateOwners(n *node, owners []metav1.OwnerReference) {
	oldByUID := map[types.UID]metav1.OwnerReference{}
	for _, o := range n.owners {
		oldByUID[o.UID] = o
	}
	var added []metav1.OwnerReference
	for _, o := range owners {
		old, ok := oldByUID[o.UID]
		delete(oldByUID, o.UID)
		if !ok {
			added = append(added, o)
			continue
		}
		// An owner no longer blocked by n may now be deletable.
		if blocks(old) && !blocks(o) {
			if owner := c.nodes[o.UID]; owner != nil && owner.deletingDependents {
				c.attemptToDelete.Add(string(o.UID))
			}
		}
	}
	for uid := range oldByUID {
		if owner := c.nodes[uid]; owner != nil {
			delete(owner.dependents, n.ref.UID)
			if owner.deletingDependents {
				c.attemptToDelete.Add(string(uid))
			}
		}
	}
	c.addToOwners(n, added)
}

func blocks(o metav1.OwnerReference) bool {
	return o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion
}

// removeNode drops n: its dependents lost an owner, its owners may have
// lost their last blocking dependent.
func (c *Controller) removeNode(n *node) {
	delete(c.nodes, n.ref.UID)
	for _, o := range n.owners {
		if owner := c.nodes[o.UID]; owner != nil {
			delete(owner.dependents, n.ref.UID)
			if owner.deletingDependents {
				c.attemptToDelete.Add(string(o.UID))
			}
		}
	}
	for _, d := range n.dependents {
		c.attemptToDelete.Add(string(d.ref.UID))
	}
}
