// Command drover-proxy forwards Services in the node's kernel with nftables
// (over netlink) and routes pod CIDRs between nodes (host-gw).
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"drover.dev/proxy/app"
)

func main() {
	// Most of the heap is long-lived informer state and the applied model;
	// a tighter GC goal keeps RSS lower. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.NewCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
