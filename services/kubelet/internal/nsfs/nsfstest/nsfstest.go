// Package nsfstest runs a test binary inside a network namespace of its own,
// so that the links, routes and sysctls its tests make on "the node" go away
// with it even when a test dies half-way.
package nsfstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/vishvananda/netlink"
)

const envMarker = "DROVER_TEST_IN_NETNS"

// Reexec runs the current binary again, with the same arguments, in a new
// network namespace and returns its exit code with done=true; inside that
// copy it brings lo up and returns done=false. Call it first in TestMain:
//
//	if code, done := nsfstest.Reexec(); done { os.Exit(code) }
func Reexec() (code int, done bool) {
	if os.Getenv(envMarker) == "1" {
		if err := loUp(); err != nil {
			fmt.Fprintln(os.Stderr, "nsfstest:", err)
			return 1, true
		}
		return 0, false
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envMarker+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee):
		return ee.ExitCode(), true
	default:
		fmt.Fprintln(os.Stderr, "nsfstest: re-exec in a new network namespace (needs root):", err)
		return 1, true
	}
}

func loUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}
