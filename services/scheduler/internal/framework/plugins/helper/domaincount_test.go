package helper

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
)

func nodeInfo(name, zone string, pods int) *framework.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": zone}}})
	for i := range pods {
		pod := name + "-" + string(rune('a'+i))
		ni.AddPod(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, UID: types.UID(pod)}})
	}
	return ni
}

func TestDomainCounts(t *testing.T) {
	d := NewDomainCounts(2)
	calls := 0
	count := func(ni *framework.NodeInfo) (int64, bool) {
		calls++
		return int64(len(ni.Pods)), true
	}
	nodes := []*framework.NodeInfo{nodeInfo("n1", "a", 1), nodeInfo("n2", "a", 2), nodeInfo("n3", "b", 0)}
	got := d.Totals("k", "zone", nodes, count)
	if got["a"] != 3 || got["b"] != 0 || len(got) != 2 || calls != 3 {
		t.Fatalf("totals %v after %d counts", got, calls)
	}
	// Nothing changed: nothing is counted again.
	calls = 0
	d.Totals("k", "zone", nodes, count)
	if calls != 0 {
		t.Fatalf("%d nodes counted again", calls)
	}
	// n2 moves to zone c (a new Generation, as the cache sets it); zone a
	// keeps n1 only.
	n2 := nodes[1]
	n2.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"zone": "c"}}})
	n2.Generation++
	got = d.Totals("k", "zone", nodes, count)
	if got["a"] != 1 || got["c"] != 2 || calls != 1 {
		t.Fatalf("totals %v after %d counts", got, calls)
	}
	// n3 loses the label: zone b has no node left and disappears.
	nodes[2].SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}})
	nodes[2].Generation++
	if got = d.Totals("k", "zone", nodes, count); len(got) != 2 {
		t.Fatalf("totals %v", got)
	}
	// Beyond two counters the least recently used one is dropped.
	d.Totals("k2", "zone", nodes, count)
	d.Totals("k", "zone", nodes, count)
	d.Totals("k3", "zone", nodes, count)
	if _, ok := d.entries["k2"]; ok || len(d.entries) != 2 {
		t.Fatalf("entries after eviction: %d, k2 kept: %v", len(d.entries), ok)
	}
}

// TestViewNodeTotal: a node of the list reads its domain's total by its
// index; a copy of a node (a dry run's) and a node at a stale index look
// the label up; a node without the label has no total. Every answer
// equals the map's.
func TestViewNodeTotal(t *testing.T) {
	d := NewDomainCounts(4)
	nodes := []*framework.NodeInfo{nodeInfo("n1", "a", 1), nodeInfo("n2", "a", 2), nodeInfo("n3", "b", 4), nodeInfo("n4", "", 0)}
	nodes[3].SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n4"}})
	for i, ni := range nodes {
		ni.Index = i
	}
	count := func(ni *framework.NodeInfo) (int64, bool) { return int64(len(ni.Pods)), ni.Node().Name != "n2" }
	v := d.View("k", "zone", nodes, count)
	type answer struct {
		total int64
		ok    bool
	}
	want := map[string]answer{"n1": {1, true}, "n2": {1, true}, "n3": {4, true}, "n4": {0, false}}
	check := func(ni *framework.NodeInfo, what string) {
		t.Helper()
		w := want[ni.Node().Name]
		if got, ok := v.NodeTotal(ni); got != w.total || ok != w.ok {
			t.Errorf("%s %s: %d %v, want %d %v", what, ni.Node().Name, got, ok, w.total, w.ok)
		}
		if dom, has := ni.Node().Labels["zone"]; has && v.Totals[dom] != w.total {
			t.Errorf("%s %s: map says %d", what, ni.Node().Name, v.Totals[dom])
		}
	}
	for _, ni := range nodes {
		check(ni, "listed")
		check(ni.Clone(), "copy")
	}
	stale := nodeInfo("n3", "b", 0)
	stale.Index = 0 // another node's slot
	check(stale, "stale index")

	// The last counted node of a domain leaves it: its total is gone
	// from the slices as from the map.
	nodes[2].SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3", Labels: map[string]string{"zone": "a"}}})
	nodes[2].Generation++
	v = d.View("k", "zone", nodes, count)
	want["n1"], want["n2"], want["n3"] = answer{5, true}, answer{5, true}, answer{5, true}
	for _, ni := range nodes {
		check(ni, "after move")
	}
	if _, ok := v.Totals["b"]; ok {
		t.Errorf("zone b still in %v", v.Totals)
	}
}
