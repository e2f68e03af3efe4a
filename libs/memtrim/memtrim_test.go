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
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 1<<20))
	}
	garbage = nil
	_ = garbage
	// Read after allocating: the garbage may sit in pages released before.
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	Run(ctx, time.Millisecond, 0, 0, 0)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapReleased < before.HeapReleased+32<<20 {
		t.Fatalf("released %d MiB, want at least 32 more than %d MiB", after.HeapReleased>>20, before.HeapReleased>>20)
	}
}

var sink [][]byte

// runChecks turns the GC off (only trims collect) and runs Run in the
// background with checks every period until the test ends, returning once
// the first trim has run.
func runChecks(t *testing.T, period time.Duration, threshold, quiet uint64) {
	debug.SetGCPercent(-1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, time.Millisecond, period, threshold, quiet); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		debug.SetGCPercent(100)
	})
	time.Sleep(period / 2)
}

// After the first trim, freed heap above the threshold is returned at the
// next check.
func TestRunTrimsFreeHeapAboveThreshold(t *testing.T) {
	runChecks(t, 20*time.Millisecond, 16<<20, 0)
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	runtime.GC() // the garbage is now free heap, still held
	if Free() < 32<<20 {
		t.Fatalf("only %d MiB free after collecting 64 MiB of garbage", Free()>>20)
	}
	deadline := time.Now().Add(5 * time.Second)
	for Free() > 16<<20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if f := Free(); f > 16<<20 {
		t.Fatalf("%d MiB still free after the checks", f>>20)
	}
}

// gcs is the number of completed collections.
func gcs() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}

// A daemon that allocates a little between checks is trimmed at each; one
// that allocates more than the quiet bound is left to its own collections.
func TestRunTrimsQuietDaemon(t *testing.T) {
	const period = 50 * time.Millisecond
	runChecks(t, period, 1<<40, 4<<20)

	// Busy: 8 MiB at once each period, above the quiet bound (a check
	// sees none, one or two of these bursts, never a little).
	before := gcs()
	for range 3 {
		for range 8 {
			sink = append(sink[:0], make([]byte, 1<<20))
		}
		time.Sleep(period)
	}
	if n := gcs() - before; n > 0 {
		t.Errorf("%d collections while allocating 8 MiB a period, want none", n)
	}

	// Quiet: 64 KiB between checks.
	before = gcs()
	deadline := time.Now().Add(5 * time.Second)
	for gcs()-before < 2 && time.Now().Before(deadline) {
		sink = append(sink[:0], make([]byte, 64<<10))
		time.Sleep(period)
	}
	if n := gcs() - before; n < 2 {
		t.Errorf("%d collections in 5 s of quiet, want a trim each period", n)
	}
	sink = nil
}
