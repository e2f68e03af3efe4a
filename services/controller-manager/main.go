// Command drover-controller-manager runs drover's controllers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"drover.dev/controller-manager/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.NewCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
