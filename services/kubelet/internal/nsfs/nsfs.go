// Package nsfs makes Linux namespaces that outlive every process in them by
// bind-mounting their /proc ns files onto plain files, as `ip netns add`
// does. A pod sandbox is such a set: network, IPC and UTS namespaces that
// its containers join and that stay while containers restart.
package nsfs

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Kind is a namespace type.
type Kind string

const (
	Net Kind = "net"
	IPC Kind = "ipc"
	UTS Kind = "uts"
)

var cloneFlags = map[Kind]uintptr{Net: unix.CLONE_NEWNET, IPC: unix.CLONE_NEWIPC, UTS: unix.CLONE_NEWUTS}

// Create makes a new namespace of each kind in paths and bind-mounts it onto
// its path (the file is created). A new UTS namespace gets hostname. On
// error nothing is left mounted.
func Create(paths map[Kind]string, hostname string) (err error) {
	var flags uintptr
	for k := range paths {
		f, ok := cloneFlags[k]
		if !ok {
			return fmt.Errorf("nsfs: unknown namespace kind %q", k)
		}
		flags |= f
	}
	if len(paths) == 0 {
		return nil
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				_ = Remove(p)
			}
		}
	}()
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return fmt.Errorf("nsfs: %w", err)
		}
		f.Close()
		created = append(created, p)
	}
	done := make(chan error, 1)
	go func() {
		// The thread is left locked so that Go ends it with the goroutine:
		// it is in the new namespaces and must not run anything else.
		runtime.LockOSThread()
		done <- unshareAndMount(flags, paths, hostname)
	}()
	return <-done
}

func unshareAndMount(flags uintptr, paths map[Kind]string, hostname string) error {
	if err := unix.Unshare(int(flags)); err != nil {
		return fmt.Errorf("nsfs: unshare: %w", err)
	}
	if _, ok := paths[UTS]; ok && hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("nsfs: sethostname: %w", err)
		}
	}
	for k, p := range paths {
		src := fmt.Sprintf("/proc/thread-self/ns/%s", k)
		if err := unix.Mount(src, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("nsfs: bind %s: %w", src, err)
		}
	}
	return nil
}

// Remove unmounts the namespace at path and deletes the file; the namespace
// goes away once no process is in it. Removing what is not there is fine.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nsfs: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nsfs: %w", err)
	}
	return nil
}

// IsMounted reports whether path holds a namespace.
func IsMounted(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// Do runs fn on a thread that has joined the network namespace at path, then
// returns the thread to the namespace it came from.
func Do(path string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("nsfs: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("nsfs: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("nsfs: setns %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace: keep it locked so Go
		// throws it away instead of reusing it.
		runtime.LockOSThread()
		return fmt.Errorf("nsfs: setns back: %w", err)
	}
	return ferr
}
