// Package app holds the drover commands: `drover up` runs a local cluster,
// `drover down` deletes one, `drover version` says which drover this is.
package app

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"drover.dev/drover/app/options"
)

// NewCommand returns the drover root command.
func NewCommand() *cobra.Command {
	global := &options.GlobalOptions{}
	cmd := &cobra.Command{
		Use:          "drover",
		Short:        "drover runs a Kubernetes-API-compatible cluster",
		SilenceUsage: true,
	}
	global.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newUpCommand(global),
		newDownCommand(global),
		newVersionCommand(),
		newImageCommand(),
		newNetNSExecCommand(),
	)
	return cmd
}

// newLogger logs drover's own messages for a person at a terminal.
func newLogger(w zapcore.WriteSyncer, verbose bool) *zap.Logger {
	level := zapcore.InfoLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	enc.CallerKey = ""
	enc.StacktraceKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(w), level))
}

// signalContext is cancelled on the first SIGINT or SIGTERM, so the command
// can shut down in order; a second one exits at once (the children die with
// drover, see supervisor).
func signalContext(parent context.Context, lg *zap.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			lg.Info("received signal; shutting down (send it again to exit at once)", zap.String("signal", sig.String()))
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			lg.Warn("received second signal; exiting now", zap.String("signal", sig.String()))
			os.Exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// validationError joins the problems Validate found.
func validationError(errs []error) error {
	return errors.Join(errs...)
}
