package component

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"drover.dev/libs/memtrim"
)

// Main is a daemon's main: it runs cmd until SIGINT or SIGTERM cancels its
// context and exits 1 if cmd fails. Most of a daemon's heap is long-lived
// informer or cache state, so the GC goal is 50% instead of Go's 100%
// (GOGC in the environment still wins), which keeps RSS lower for little
// CPU; the heap used only while starting is given back once started
// (DROVER_MEMTRIM=off keeps it).
func Main(cmd *cobra.Command) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	memtrim.Start(ctx)
	err := cmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
