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
