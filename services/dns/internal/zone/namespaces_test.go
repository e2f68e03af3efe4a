package zone

import "testing"

func TestPodNamespaces(t *testing.T) {
	ns := newPodNamespaces()
	a := ns.open("a")
	ns.add(a)
	ns.add(a)
	b := ns.open("b")
	ns.closeIfEmpty(b) // opened, no pod IP added: forgotten at once
	if _, ok := ns.id("b"); ok {
		t.Fatal("empty namespace kept")
	}
	if got := ns.open("a"); got != a {
		t.Fatalf("a renumbered %d, was %d", got, a)
	}
	ns.remove(a)
	if _, ok := ns.id("a"); !ok {
		t.Fatal("namespace forgotten with a pod IP left")
	}
	ns.remove(a)
	if _, ok := ns.id("a"); ok {
		t.Fatal("namespace kept without pod IPs")
	}
	c := ns.open("c")
	ns.add(c)
	if c != a && c != b {
		t.Errorf("freed numbers not reused: got %d, freed %d and %d", c, a, b)
	}
	if len(ns.names) != 2 {
		t.Errorf("%d numbers used for at most 2 namespaces at a time", len(ns.names))
	}
	if id, ok := ns.id("c"); !ok || id != c || ns.names[c] != "c" {
		t.Errorf("c is %d (%v), names %q", id, ok, ns.names)
	}
}
