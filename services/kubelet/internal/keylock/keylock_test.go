package keylock

import (
	"sync"
	"testing"
	"time"
)

func TestSameKeyExcludesOtherKeysDoNot(t *testing.T) {
	var m Map
	unlockA := m.Lock("a")
	// Another key is free.
	done := make(chan struct{})
	go func() { m.Lock("b")(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("lock of b waited for a")
	}
	// The same key waits.
	got := make(chan struct{})
	go func() { m.Lock("a")(); close(got) }()
	select {
	case <-got:
		t.Fatal("second lock of a did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlockA()
	<-got
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); m.Lock("c")() }()
	}
	wg.Wait()
	if n := len(m.locks); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
