package cache

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func node(name string) *v1.Node {
	rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourcePods: resource.MustParse("110")}
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{Allocatable: rl}}
}

func pod(name, nodeName, cpu string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec: v1.PodSpec{NodeName: nodeName, Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

func requestedCPU(t *testing.T, s *Snapshot, n string) int64 {
	t.Helper()
	ni, err := s.Get(n)
	if err != nil {
		t.Fatal(err)
	}
	return ni.Requested.MilliCPU
}

func TestAssumeConfirmForget(t *testing.T) {
	c := New()
	c.AddNode(node("a"))
	c.AddNode(node("b"))
	s := NewEmptySnapshot()

	p := pod("p", "a", "1")
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(p); err == nil {
		t.Fatal("assumed twice")
	}
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "a"); got != 1000 {
		t.Fatalf("assumed pod not accounted: %d", got)
	}
	// The binding is observed: the pod stays accounted, no longer assumed.
	c.AddPod(p)
	if c.IsAssumedPod(p) {
		t.Fatal("still assumed after confirmation")
	}
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "a"); got != 1000 {
		t.Fatalf("after confirm: %d", got)
	}
	if err := c.ForgetPod(p); err == nil {
		t.Fatal("forgot a confirmed pod")
	}

	// A failed binding forgets the assumption.
	q := pod("q", "b", "2")
	if err := c.AssumePod(q); err != nil {
		t.Fatal(err)
	}
	if err := c.ForgetPod(q); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "b"); got != 0 {
		t.Fatalf("forgotten pod still accounted: %d", got)
	}
}

func TestSnapshotCopiesOnlyChangedNodes(t *testing.T) {
	c := New()
	c.AddNode(node("a"))
	c.AddNode(node("b"))
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	a1, _ := s.Get("a")
	b1, _ := s.Get("b")
	genB := b1.Generation
	c.AddPod(pod("p", "a", "1"))
	c.UpdateSnapshot(s)
	a2, _ := s.Get("a")
	b2, _ := s.Get("b")
	if a2 != a1 || a2.Requested.MilliCPU != 1000 {
		t.Fatal("changed node not updated in place")
	}
	if b2.Generation != genB {
		t.Fatal("unchanged node was copied")
	}
	if s.NumNodes() != 2 {
		t.Fatalf("nodes %d", s.NumNodes())
	}
	c.RemoveNode(node("b"))
	c.UpdateSnapshot(s)
	if s.NumNodes() != 1 {
		t.Fatalf("removed node still in snapshot: %d", s.NumNodes())
	}
	// A pod on a node the cache has not seen yet waits in a placeholder.
	c.AddPod(pod("early", "c", "1"))
	c.UpdateSnapshot(s)
	if s.NumNodes() != 1 {
		t.Fatal("placeholder node listed")
	}
	c.AddNode(node("c"))
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "c"); got != 1000 {
		t.Fatalf("early pod lost: %d", got)
	}
}

func TestUpdateAndRemovePod(t *testing.T) {
	c := New()
	c.AddNode(node("a"))
	s := NewEmptySnapshot()
	p := pod("p", "a", "1")
	c.AddPod(p)
	bigger := pod("p", "a", "3")
	c.UpdatePod(p, bigger)
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "a"); got != 3000 {
		t.Fatalf("after update %d", got)
	}
	c.RemovePod(bigger)
	c.UpdateSnapshot(s)
	if got := requestedCPU(t, s, "a"); got != 0 {
		t.Fatalf("after remove %d", got)
	}
}
