package garbagecollector

import (
	"slices"
	"testing"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/controller-manager/internal/controller"
)

func newGraph() *Controller {
	return &Controller{nodes: map[types.UID]*node{}, absent: map[types.UID]bool{},
		attemptToDelete: controller.NewQueue("test-delete"), attemptToOrphan: controller.NewQueue("test-orphan")}
}

func drain(c *Controller) (del, orphan []string) {
	for c.attemptToDelete.Len() > 0 {
		k, _ := c.attemptToDelete.Get()
		c.attemptToDelete.Done(k)
		del = append(del, k)
	}
	for c.attemptToOrphan.Len() > 0 {
		k, _ := c.attemptToOrphan.Get()
		c.attemptToOrphan.Done(k)
		orphan = append(orphan, k)
	}
	slices.Sort(del)
	return del, orphan
}

var rsKind = apps.SchemeGroupVersion.WithKind("ReplicaSet")
var podKind = v1.SchemeGroupVersion.WithKind("Pod")

func rs(uid string, mutate func(*apps.ReplicaSet)) *apps.ReplicaSet {
	r := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs-" + uid, Namespace: "ns", UID: types.UID(uid)}}
	if mutate != nil {
		mutate(r)
	}
	return r
}

func pod(uid string, owners ...*apps.ReplicaSet) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pod-" + uid, Namespace: "ns", UID: types.UID(uid)}}
	for _, o := range owners {
		p.OwnerReferences = append(p.OwnerReferences, *controller.NewControllerRef(o, rsKind))
	}
	return p
}

func TestGraphOwnersAndVirtualNodes(t *testing.T) {
	c := newGraph()
	owner := rs("o", nil)
	// The dependent arrives first: its owner becomes a virtual node to verify.
	c.processEvent(event{typ: addEvent, obj: pod("p1", owner), gvk: podKind})
	if n := c.nodes["o"]; n == nil || !n.virtual || n.dependents["p1"] == nil {
		t.Fatalf("virtual owner %+v", n)
	}
	if del, _ := drain(c); !slices.Equal(del, []string{"o"}) {
		t.Fatalf("attempt to delete %v", del)
	}
	c.processEvent(event{typ: addEvent, obj: owner, gvk: rsKind})
	if c.nodes["o"].virtual || c.nodes["o"].ref.Kind != "ReplicaSet" {
		t.Fatal("observed owner is still virtual")
	}
	c.processEvent(event{typ: addEvent, obj: pod("p2", owner), gvk: podKind})
	drain(c)
	// Deleting the owner queues its dependents.
	c.processEvent(event{typ: deleteEvent, obj: owner, gvk: rsKind})
	if del, _ := drain(c); !slices.Equal(del, []string{"p1", "p2"}) {
		t.Fatalf("attempt to delete %v", del)
	}
	if c.nodes["o"] != nil {
		t.Fatal("deleted owner still in the graph")
	}
}

func TestGraphForegroundAndOrphan(t *testing.T) {
	c := newGraph()
	now := metav1.Now()
	owner := rs("o", nil)
	c.processEvent(event{typ: addEvent, obj: owner, gvk: rsKind})
	c.processEvent(event{typ: addEvent, obj: pod("p1", owner), gvk: podKind})
	drain(c)
	fg := rs("o", func(r *apps.ReplicaSet) {
		r.DeletionTimestamp = &now
		r.Finalizers = []string{metav1.FinalizerDeleteDependents}
	})
	c.processEvent(event{typ: updateEvent, obj: fg, gvk: rsKind})
	if !c.nodes["o"].deletingDependents {
		t.Fatal("owner not deleting dependents")
	}
	if del, _ := drain(c); !slices.Equal(del, []string{"o", "p1"}) {
		t.Fatalf("attempt to delete %v", del)
	}
	if b := c.nodes["o"].blocking(); len(b) != 1 {
		t.Fatalf("blocking %d", len(b))
	}
	// The dependent going away wakes the waiting owner.
	c.processEvent(event{typ: deleteEvent, obj: pod("p1", owner), gvk: podKind})
	if del, _ := drain(c); !slices.Equal(del, []string{"o"}) {
		t.Fatalf("attempt to delete %v", del)
	}

	orph := rs("x", func(r *apps.ReplicaSet) {
		r.DeletionTimestamp = &now
		r.Finalizers = []string{metav1.FinalizerOrphanDependents}
	})
	c.processEvent(event{typ: addEvent, obj: orph, gvk: rsKind})
	if _, o := drain(c); !slices.Equal(o, []string{"x"}) {
		t.Fatalf("attempt to orphan %v", o)
	}
}

func TestGraphOwnerReferenceChanges(t *testing.T) {
	c := newGraph()
	a, b := rs("a", nil), rs("b", nil)
	c.processEvent(event{typ: addEvent, obj: a, gvk: rsKind})
	c.processEvent(event{typ: addEvent, obj: b, gvk: rsKind})
	c.processEvent(event{typ: addEvent, obj: pod("p", a), gvk: podKind})
	c.processEvent(event{typ: updateEvent, obj: pod("p", b), gvk: podKind})
	if c.nodes["a"].dependents["p"] != nil || c.nodes["b"].dependents["p"] == nil {
		t.Fatal("dependents not moved between owners")
	}
}
