// Command drover runs a local drover cluster; see `drover --help`.
package main

import (
	"context"
	"os"
	"runtime/debug"

	"drover.dev/drover/app"
	"drover.dev/libs/memtrim"
)

func main() {
	// `drover up` holds embedded etcd and NATS, whose heaps are mostly
	// long-lived (the key index, the raft log, stream state): collecting at
	// 50% growth keeps RSS lower for little CPU. GOGC in the environment
	// still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	// Start-up touches far more code and heap than the idle cluster runs
	// on; give it back once started (DROVER_MEMTRIM=off keeps it). Short
	// commands exit before the first trim.
	memtrim.Start(context.Background())
	if err := app.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
