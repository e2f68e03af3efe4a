// Command drover-kubelet is the node agent: it registers its Node and runs
// the pods bound to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"drover.dev/kubelet/app"
	"drover.dev/kubelet/internal/runtime/runc"
)

func main() {
	// The kubelet binary is also the container shim and `runc init`.
	runc.HandleReexec()
	// Most of the heap is long-lived informer state; a tighter GC goal keeps
	// RSS lower for little CPU. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.NewCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
