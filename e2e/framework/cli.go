package framework

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cliTimeout bounds one kubectl or helm invocation.
const cliTimeout = 2 * time.Minute

// Result is what a CLI invocation printed and how it exited.
type Result struct {
	Args     []string
	Stdout   string
	Stderr   string
	ExitCode int
}

func (r Result) String() string {
	return fmt.Sprintf("%q exited %d\nstdout:\n%s\nstderr:\n%s", r.Args, r.ExitCode, r.Stdout, r.Stderr)
}

// CLI runs one client binary (kubectl, helm) against a cluster with a home directory of
// its own, so caches and config never leak between tests.
type CLI struct {
	t   testing.TB
	bin string
	env []string
	dir string
}

// Kubectl returns a kubectl runner for the test: KUBECONFIG is the cluster's admin
// kubeconfig, HOME a temp dir of the test (so the discovery cache is the test's own).
func (c *Cluster) Kubectl(t testing.TB) *CLI {
	t.Helper()
	home := t.TempDir()
	return &CLI{t: t, bin: c.Bins.Path(BinKubectl), dir: home, env: []string{
		"KUBECONFIG=" + c.Kubeconfig(),
		"HOME=" + home,
		"TMPDIR=" + home, // kubectl edit keeps copies of refused edits there
	}}
}

// DroverCLI returns a runner of the drover CLI for the test.
func (c *Cluster) DroverCLI(t testing.TB) *CLI {
	t.Helper()
	home := t.TempDir()
	return &CLI{t: t, bin: c.Bins.Path(BinDrover), dir: home, env: []string{"HOME=" + home}}
}

// Helm returns a helm runner for the test: KUBECONFIG is the cluster's admin kubeconfig,
// HOME and the XDG dirs are temp dirs of the test.
func (c *Cluster) Helm(t testing.TB) *CLI {
	t.Helper()
	home := t.TempDir()
	return &CLI{t: t, bin: c.Bins.Path(BinHelm), dir: home, env: []string{
		"KUBECONFIG=" + c.Kubeconfig(),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"HELM_NO_PLUGINS=1",
	}}
}

// For returns the runner bound to t, for use inside a subtest: a failure then fails t.
func (k *CLI) For(t testing.TB) *CLI {
	c := *k
	c.t = t
	return &c
}

// WithEnv returns the runner with more environment variables ("KEY=value").
func (k *CLI) WithEnv(kv ...string) *CLI {
	c := *k
	c.env = append(slices.Clone(k.env), kv...)
	return &c
}

// Dir returns the runner's working directory (its home).
func (k *CLI) Dir() string { return k.dir }

func (k *CLI) command(ctx context.Context, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Dir = k.dir
	cmd.Env = append(os.Environ(), k.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// On timeout or cancel, the whole group goes (an editor or plugin kubectl started),
	// and output pipes a straggler holds open do not block Wait.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs the binary with args and returns what it printed and its exit code.
func (k *CLI) Run(args ...string) Result {
	k.t.Helper()
	return k.RunWithInput("", args...)
}

// RunWithInput is Run with stdin.
func (k *CLI) RunWithInput(stdin string, args ...string) Result {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := k.command(ctx, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.ExitCode = exitErr.ExitCode()
	default:
		k.t.Fatalf("run %s %q: %v", k.bin, args, err)
	}
	if ctx.Err() != nil {
		k.t.Fatalf("%s %q did not finish within %s\n%s", filepath.Base(k.bin), args, cliTimeout, r)
	}
	return r
}

// MustRun runs the binary and fails the test unless it exits 0; it returns stdout.
func (k *CLI) MustRun(args ...string) string {
	k.t.Helper()
	r := k.Run(args...)
	if r.ExitCode != 0 {
		k.t.Fatalf("%s failed:\n%s", filepath.Base(k.bin), r)
	}
	return r.Stdout
}

// MustRunWithInput is MustRun with stdin.
func (k *CLI) MustRunWithInput(stdin string, args ...string) string {
	k.t.Helper()
	r := k.RunWithInput(stdin, args...)
	if r.ExitCode != 0 {
		k.t.Fatalf("%s failed:\n%s", filepath.Base(k.bin), r)
	}
	return r.Stdout
}

// Background is a CLI invocation that keeps running (kubectl get -w): its stdout lines
// arrive on Lines.
type Background struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
}

// Start starts the binary with args in the background; it is killed when the test ends.
func (k *CLI) Start(args ...string) *Background {
	k.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := k.command(ctx, args)
	// An io.Pipe rather than StdoutPipe: Wait may then run while lines are still read.
	stdout, stdoutW := io.Pipe()
	cmd.Stdout = stdoutW
	b := &Background{cmd: cmd, cancel: cancel, lines: make(chan string, 1000), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	go func() {
		defer close(b.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		stdoutW.Close()
		close(b.done)
	}()
	k.t.Cleanup(b.Stop)
	return b
}

// WaitForLine waits until a stdout line satisfies match and returns it. Lines read
// while waiting are consumed. It fails the test on timeout or if the process exits.
func (b *Background) WaitForLine(t testing.TB, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				t.Fatalf("process ended before the expected line; lines: %q; stderr: %s", seen, b.stderr.String())
			}
			if match(line) {
				return line
			}
			seen = append(seen, line)
		case <-timer.C:
			t.Fatalf("no expected line within %s; lines: %q; stderr: %s", timeout, seen, b.stderr.String())
		}
	}
}

// Stderr returns what the process wrote to stderr so far.
func (b *Background) Stderr() string { return b.stderr.String() }

// Stop kills the process and waits for it.
func (b *Background) Stop() {
	b.cancel()
	go func() { // unblock the reader so that Wait can finish copying stdout
		for range b.lines {
		}
	}()
	<-b.done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
