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
// freed heap is held. A check is one metrics read; a trim is a full
// collection, so a busy daemon pays at most one extra per period.
const (
	DefaultFirst     = 15 * time.Second
	DefaultPeriod    = 20 * time.Second
	DefaultThreshold = 8 << 20
)

// Start runs Run with the defaults in the background unless Env is "off".
func Start(ctx context.Context) {
	if os.Getenv(Env) == "off" {
		return
	}
	go Run(ctx, DefaultFirst, DefaultPeriod, DefaultThreshold)
}

// Run returns freed heap to the kernel after first, then every period when
// more than threshold bytes of it are held, until ctx ends. A zero period
// trims once.
func Run(ctx context.Context, first, period time.Duration, threshold uint64) {
	t := time.NewTimer(first)
	defer t.Stop()
	trim := true // the first time, whatever is held
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if trim || Free() > threshold {
			debug.FreeOSMemory()
		}
		if period <= 0 {
			return
		}
		trim = false
		t.Reset(period)
	}
}

const freeMetric = "/memory/classes/heap/free:bytes"

// Free is the heap the runtime holds free and has not returned yet.
func Free() uint64 {
	s := []metrics.Sample{{Name: freeMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
