package framework

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNotRunning is returned by Process methods that need a running process.
var ErrNotRunning = errors.New("framework: process is not running")

// stopTimeout is how long Stop waits after SIGTERM before it kills the process group.
const stopTimeout = 15 * time.Second

// Process is one daemon run from its binary. It runs in its own process group, so that
// Stop and Kill also reach the children it starts, and it appends its stdout and stderr
// to LogPath across restarts.
type Process struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string // added to the test process's environment
	LogPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// NewProcess describes a process; nothing runs until Start.
func NewProcess(name, logPath, bin string, args ...string) *Process {
	return &Process{Name: name, Bin: bin, Args: args, LogPath: logPath}
}

// StartProcess starts a process for one test: its log is in the test's temp dir, it is
// killed when the test ends, and its log is printed if the test failed.
func StartProcess(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	p := NewProcess(name, filepath.Join(t.TempDir(), name+".log"), bin, args...)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("--- log of %s (%s):\n%s", p.Name, p.LogPath, tail(p.Logs(), maxLogLines))
		}
	})
	return p
}

// Start starts the process. It fails if the process is already running.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running() {
		return fmt.Errorf("framework: %s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== %s: starting %s %q\n", time.Now().Format(time.RFC3339Nano), p.Bin, p.Args)
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies without cleaning up, the daemon goes with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("framework: start %s: %w", p.Name, err)
	}
	p.cmd, p.logFile, p.done, p.waitErr = cmd, f, make(chan struct{}), nil
	go p.reap(cmd, f, p.done)
	return nil
}

func (p *Process) reap(cmd *exec.Cmd, f *os.File, done chan struct{}) {
	err := cmd.Wait()
	fmt.Fprintf(f, "=== %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), cmd.ProcessState)
	f.Close()
	p.mu.Lock()
	p.waitErr = err
	p.mu.Unlock()
	close(done)
}

// running reports whether the last started process has not exited; p.mu must be held.
func (p *Process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Running reports whether the process is running.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running()
}

// Pid returns the process id of the running process, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited returns a channel closed when the current process exits (nil if never started).
func (p *Process) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// signalGroup sends sig to the process group and returns the channel closed at exit.
func (p *Process) signalGroup(sig syscall.Signal) (<-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return p.done, ErrNotRunning
	}
	// The process is its group's leader (Setpgid), so -pid names the whole group.
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return p.done, fmt.Errorf("framework: signal %s: %w", p.Name, err)
	}
	return p.done, nil
}

// Signal sends sig to the process group without waiting.
func (p *Process) Signal(sig syscall.Signal) error {
	_, err := p.signalGroup(sig)
	return err
}

// Stop asks the process group to terminate (SIGTERM) and kills it if it has not exited
// within a grace period. Stopping a process that is not running is a no-op.
func (p *Process) Stop() error {
	done, err := p.signalGroup(syscall.SIGTERM)
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
		if err := p.Kill(); err != nil {
			return err
		}
		return fmt.Errorf("framework: %s did not stop within %s of SIGTERM; killed", p.Name, stopTimeout)
	}
}

// Kill kills the process group (SIGKILL) and waits for the process to exit. Killing a
// process that is not running is a no-op.
func (p *Process) Kill() error {
	done, err := p.signalGroup(syscall.SIGKILL)
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	<-done
	return nil
}

// Restart stops the process gracefully and starts it again with the same arguments.
func (p *Process) Restart() error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.Start()
}

// Wait waits for the current process to exit and returns its exit error.
func (p *Process) Wait() error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return ErrNotRunning
	}
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Logs returns everything the process has written so far, across restarts.
func (p *Process) Logs() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// LogSize returns the current size of the log, to read only later lines with LogsSince.
func (p *Process) LogSize() int64 {
	return fileSize(p.LogPath)
}

// LogsSince returns what the process wrote after the log had size offset.
func (p *Process) LogsSince(offset int64) string {
	return readFrom(p.LogPath, offset)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(seek: %v)", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read: %v)", err)
	}
	return string(b)
}
