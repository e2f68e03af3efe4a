// Command drover-scheduler assigns pending pods to nodes.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"drover.dev/libs/memtrim"
	"drover.dev/scheduler/app"
)

func main() {
	// Most of the heap is long-lived informer state; a tighter GC goal than
	// Go's default 100 keeps RSS about a quarter lower for little CPU.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Start-up touches far more code and heap than the daemon runs on;
	// give it back once started (DROVER_MEMTRIM=off keeps it).
	memtrim.Start(ctx)
	if err := app.NewCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
