// Package memtrim returns heap memory a daemon no longer uses to the
// kernel: what it used only while starting (the initial lists, decoding,
// TLS) soon after start, and later whatever a burst of work (a rollout of
// thousands of pods, a resync) left free, instead of waiting for the Go
// runtime's gradual scavenger, so that an idle daemon's anonymous RSS is
// close to its live heap.
//
// It does not touch the executable's pages: those are clean, shared pages
// of a file (two thirds of a drover daemon's RSS) and dropping them would
// only move them to the page cache.
package memtrim

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Env names the environment variable that turns trimming off when set to
// "off" (for example to compare RSS).
const Env = "DROVER_MEMTRIM"

// Defaults for Run: the first trim once a daemon has usually finished
// starting; then a check every 20 s that trims when more than 8 MiB of
// freed heap is held, or when the daemon allocated less than 8 MiB since
// the last check. A check is one metrics read; a trim is a full
// collection (a few milliseconds for an idle daemon's heap), so a daemon
// pays at most one extra per period.
//
// The quiet rule is for idle daemons: they allocate 10-30 KB/s, so their
// garbage waited minutes for the next collection and the pages it freed
// stayed with the runtime; an idle cluster's daemons each held 1-3 MB
// more than their live heap.
const (
	DefaultFirst     = 15 * time.Second
	DefaultPeriod    = 20 * time.Second
	DefaultThreshold = 8 << 20
	DefaultQuiet     = 8 << 20
)

// Start runs Run with the defaults in the background unless Env is "off".
func Start(ctx context.Context) {
	if os.Getenv(Env) == "off" {
		return
	}
	go Run(ctx, DefaultFirst, DefaultPeriod, DefaultThreshold, DefaultQuiet)
}

// Run returns freed heap to the kernel after first, then every period when
// more than threshold bytes of it are held, or when some but less than
// quiet bytes were allocated since the last check, until ctx ends. A zero
// period trims once.
func Run(ctx context.Context, first, period time.Duration, threshold, quiet uint64) {
	t := time.NewTimer(first)
	defer t.Stop()
	trim := true // the first time, whatever is held
	var lastAllocs uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		free, allocs := read()
		allocated := allocs - lastAllocs
		if trim || free > threshold || (allocated > 0 && allocated < quiet) {
			debug.FreeOSMemory()
			_, allocs = read()
		}
		lastAllocs = allocs
		if period <= 0 {
			return
		}
		trim = false
		t.Reset(period)
	}
}

const (
	freeMetric   = "/memory/classes/heap/free:bytes"
	allocsMetric = "/gc/heap/allocs:bytes"
)

// Free is the heap the runtime holds free and has not returned yet.
func Free() uint64 {
	free, _ := read()
	return free
}

// read returns the free heap held and the bytes allocated since start.
func read() (free, allocs uint64) {
	s := []metrics.Sample{{Name: freeMetric}, {Name: allocsMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		free = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		allocs = s[1].Value.Uint64()
	}
	return free, allocs
}
