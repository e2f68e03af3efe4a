package memtrim

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// A trim gives freed heap back: HeapReleased grows after garbage is made.
func TestRunReleasesFreedHeap(t *testing.T) {
	debug.SetGCPercent(-1) // only the trim collects
	defer debug.SetGCPercent(100)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	_ = garbage
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	Run(ctx, time.Millisecond, 0)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapReleased < before.HeapReleased+32<<20 {
		t.Fatalf("released %d MiB, want at least 32 more than %d MiB", after.HeapReleased>>20, before.HeapReleased>>20)
	}
}
