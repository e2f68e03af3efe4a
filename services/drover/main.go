// Command drover runs and manages a drover cluster (drover up, drover down,
// drover image). Linked as drover-apiserver, drover-controller-manager,
// drover-scheduler, drover-dns, drover-proxy or drover-kubelet it is that
// daemon.
package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"

	"drover.dev/drover/app"
	"drover.dev/drover/internal/daemons"
	"drover.dev/libs/component"
	"drover.dev/libs/memtrim"
)

func main() {
	if cmd, ok := daemons.Command(filepath.Base(os.Args[0])); ok {
		component.Main(cmd)
		return
	}
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
