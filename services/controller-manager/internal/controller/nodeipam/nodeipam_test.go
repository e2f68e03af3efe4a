package nodeipam

import (
	"errors"
	"net"
	"testing"
)

func TestAllocator(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.244.0.0/22")
	a, err := NewAllocator(cidr, 24)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Occupy("existing", "10.244.1.0/24") {
		t.Fatal("occupy in range failed")
	}
	if a.Occupy("bad", "10.245.0.0/24") || a.Occupy("bad", "10.244.2.0/25") {
		t.Fatal("occupied a CIDR outside the range")
	}
	seen := map[string]bool{"10.244.1.0/24": true}
	for _, n := range []string{"a", "b", "c"} {
		c, err := a.Allocate(n)
		if err != nil || seen[c] {
			t.Fatalf("%s got %q (%v), seen %v", n, c, err, seen)
		}
		seen[c] = true
	}
	if again, _ := a.Allocate("a"); !seen[again] {
		t.Fatal("a node's second allocation must return its CIDR")
	}
	if _, err := a.Allocate("d"); !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	a.Release("b")
	if c, err := a.Allocate("d"); err != nil || c == "" {
		t.Fatalf("after release: %q %v", c, err)
	}
	if _, err := NewAllocator(cidr, 20); err == nil {
		t.Fatal("a mask shorter than the range must fail")
	}
}
