// Package pidfile records which process runs `drover up` for a state
// directory. The file holds the pid and is locked (flock) for as long as that
// process lives, so a file left behind by a drover that crashed is told apart
// from a running one without trusting the pid, which the kernel may have
// handed to an unrelated process since.
package pidfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked is returned by Acquire when a live process holds the file.
var ErrLocked = errors.New("pidfile: held by a running process")

// File is a held pid file.
type File struct {
	path string
	f    *os.File
}

// Acquire creates path, locks it and writes the caller's pid into it. When a
// live process holds it, the error wraps ErrLocked and names that process.
func Acquire(path string) (*File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pidfile: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				pid, _ := readPID(path)
				return nil, fmt.Errorf("%w (pid %d)", ErrLocked, pid)
			}
			return nil, fmt.Errorf("pidfile: lock %s: %w", path, err)
		}
		// The previous holder removes the file before unlocking it; if it did
		// so between our open and our lock, we hold a file nobody else will
		// see, so start over with the current one.
		if !samePath(f, path) {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("pidfile: %w", err)
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("pidfile: %w", err)
		}
		return &File{path: path, f: f}, nil
	}
}

// Release removes the file, then drops the lock.
func (p *File) Release() error {
	err := os.Remove(p.path)
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pidfile: %w", err)
	}
	return nil
}

// Holder returns the pid of the live process holding path, or 0 when none
// does (no file, or a stale one).
func Holder(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pidfile: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		return 0, nil // we got the lock: nobody holds it
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return 0, fmt.Errorf("pidfile: lock %s: %w", path, err)
	}
	pid, err := readPID(path)
	if err != nil {
		return 0, err
	}
	return pid, nil
}

func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile: %s holds no pid: %q", path, data)
	}
	return pid, nil
}

func samePath(f *os.File, path string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	current, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(held, current)
}
