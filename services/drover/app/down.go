package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"

	"drover.dev/drover/app/options"
	"drover.dev/drover/internal/pidfile"
	"drover.dev/drover/internal/statedir"
)

// upStopTimeout bounds the wait for a running `drover up` to stop: its
// daemons get 10s to stop before they are killed, then etcd closes.
const upStopTimeout = time.Minute

func newDownCommand(global *options.GlobalOptions) *cobra.Command {
	opts := options.NewDownOptions()
	cmd := &cobra.Command{
		Use:   "down --purge",
		Short: "Stop a local cluster and delete its state directory",
		Long: `Delete a local cluster: stop the drover up running for --state-dir, if any,
then remove the state directory with etcd's data, the certificates, the
kubeconfig and the logs. Requires --purge, since this cannot be undone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := opts.Validate(); len(errs) > 0 {
				return validationError(errs)
			}
			dir, err := statedir.New(opts.StateDir)
			if err != nil {
				return err
			}
			if !opts.Purge {
				return fmt.Errorf("refusing to delete %s without --purge: it holds the cluster's etcd data, certificates, kubeconfig and logs, and deleting them cannot be undone. To stop a running cluster but keep its state, interrupt drover up (Ctrl-C) instead", dir.Root)
			}
			out := cmd.OutOrStdout()
			if _, err := os.Stat(dir.Root); errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(out, "nothing to delete: %s does not exist\n", dir.Root)
				return nil
			}
			if err := dir.CheckOwned(); err != nil {
				return fmt.Errorf("refusing to delete it: %w", err)
			}
			if err := stopUp(dir, out); err != nil {
				return err
			}
			// A drover up that was killed left its nodes as they were.
			lg := newLogger(zapcore.AddSync(cmd.ErrOrStderr()), global.Verbose)
			if err := cleanupRecordedNodes(dir, lg); err != nil {
				return fmt.Errorf("clean up the nodes of %s: %w", dir.Root, err)
			}
			if err := os.RemoveAll(dir.Root); err != nil {
				return fmt.Errorf("delete %s: %w", dir.Root, err)
			}
			fmt.Fprintf(out, "deleted %s\n", dir.Root)
			return nil
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// stopUp asks the drover up running for dir, if any, to stop, and waits
// until it has released the state directory.
func stopUp(dir statedir.Dir, out io.Writer) error {
	pid, err := pidfile.Holder(dir.PIDFile())
	if err != nil || pid == 0 {
		return err
	}
	fmt.Fprintf(out, "stopping drover up (pid %d)\n", pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop drover up (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(upStopTimeout)
	for {
		pid, err := pidfile.Holder(dir.PIDFile())
		if err != nil {
			return err
		}
		if pid == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drover up (pid %d) did not stop within %s", pid, upStopTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
