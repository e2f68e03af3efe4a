// Package memtrim returns heap memory a daemon used only while starting
// (the initial lists, decoding, TLS) to the kernel soon after start and then
// now and then, instead of waiting for the Go runtime's gradual scavenger,
// so that an idle daemon's anonymous RSS is close to its live heap.
//
// It does not touch the executable's pages: those are clean, shared pages
// of a file (two thirds of a drover daemon's RSS) and dropping them would
// only move them to the page cache.
package memtrim

import (
	"context"
	"os"
	"runtime/debug"
	"time"
)

// Env names the environment variable that turns trimming off when set to
// "off" (for example to compare RSS).
const Env = "DROVER_MEMTRIM"

// Defaults for Run: the first trim once a daemon has usually finished
// starting, then a periodic one after code paths run rarely (a resync, a
// leader election).
const (
	DefaultFirst = 15 * time.Second
	DefaultEvery = 5 * time.Minute
)

// Start runs Run with the defaults in the background unless Env is "off".
func Start(ctx context.Context) {
	if os.Getenv(Env) == "off" {
		return
	}
	go Run(ctx, DefaultFirst, DefaultEvery)
}

// Run returns freed heap to the kernel after first and then every every,
// until ctx ends. A zero every trims once.
func Run(ctx context.Context, first, every time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		debug.FreeOSMemory()
		if every <= 0 {
			return
		}
		t.Reset(every)
	}
}
