// Command drover-apiserver serves the Kubernetes API from etcd.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"drover.dev/apiserver/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.NewCommand().ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}
