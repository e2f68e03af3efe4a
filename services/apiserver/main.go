// Command drover-apiserver serves the Kubernetes API from etcd.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"drover.dev/apiserver/app"
	"drover.dev/libs/memtrim"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The heap is mostly the object cache, which lives long; collecting
		// at 50% growth instead of 100% keeps RSS well below twice the cache.
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
