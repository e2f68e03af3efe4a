package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// errNetNSExecUsage is returned for a netns-exec command line without a
// namespace and a program.
var errNetNSExecUsage = errors.New("usage: drover netns-exec NETNS-PATH -- PROGRAM [ARG...]")

// newNetNSExecCommand runs a program in a network namespace, as `ip netns
// exec` does but without a mount namespace of its own: drover up starts a
// node's kubelet this way, so the kubelet's sockets, routes, sysctls and
// pod veths are the node's while its files are the host's.
func newNetNSExecCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "netns-exec NETNS-PATH -- PROGRAM [ARG...]",
		Short:              "Run a program in a network namespace (used by drover up for nodes)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, argv, err := parseNetNSExecArgs(args)
			if err != nil {
				return err
			}
			return netnsExec(path, argv)
		},
	}
}

func parseNetNSExecArgs(args []string) (string, []string, error) {
	if len(args) < 3 || args[1] != "--" || args[0] == "" || args[2] == "" {
		return "", nil, errNetNSExecUsage
	}
	return args[0], args[2:], nil
}

// netnsExec enters the namespace on this thread and replaces the process
// with the program: execve keeps the calling thread's namespaces, and the
// process group and parent-death signal drover's supervisor set.
func netnsExec(path string, argv []string) error {
	binary, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("netns-exec: %w", err)
	}
	defer f.Close()
	runtime.LockOSThread()
	// The thread stays locked: were exec to fail, it must not run other
	// goroutines in the node's namespace.
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns-exec: enter %s: %w", path, err)
	}
	return fmt.Errorf("netns-exec: exec %s: %w", binary, syscall.Exec(binary, argv, os.Environ()))
}
