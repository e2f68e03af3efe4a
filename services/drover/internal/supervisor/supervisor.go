// Package supervisor runs a local cluster's daemons as child processes: each
// in its own process group, its output prefixed with its name on drover's
// output and copied to a log file, restarted with exponential back-off when
// it dies, and stopped with SIGTERM, then SIGKILL, to its whole group.
//
// A daemon is described by a Daemon value; adding one to a cluster is adding
// one such value to the list the caller starts.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Defaults for Config.
const (
	DefaultInitialBackoff    = time.Second
	DefaultMaxBackoff        = 30 * time.Second
	DefaultStopGracePeriod   = 10 * time.Second
	DefaultReadyPollInterval = 250 * time.Millisecond
	// readyAttemptTimeout bounds one readiness check, so that a daemon that
	// accepts connections but never answers does not stall WaitReady.
	readyAttemptTimeout = 5 * time.Second
	// outputDrainTimeout bounds how long to wait for a dead daemon's output
	// when a process it left behind still holds its stdout or stderr open.
	outputDrainTimeout = 2 * time.Second
)

var (
	// ErrStopped is returned when the supervisor was stopped.
	ErrStopped = errors.New("supervisor: stopped")
	// ErrDuplicateDaemon is returned when a daemon name is already in use.
	ErrDuplicateDaemon = errors.New("supervisor: duplicate daemon name")
	// ErrUnknownDaemon is returned for a name that was never started.
	ErrUnknownDaemon = errors.New("supervisor: unknown daemon")
	// ErrNotReady is returned when a daemon does not become ready in time.
	ErrNotReady = errors.New("supervisor: daemon not ready")
)

// ReadinessCheck reports whether a daemon is ready to serve: nil means ready.
type ReadinessCheck func(ctx context.Context) error

// Daemon describes one supervised child process.
type Daemon struct {
	// Name prefixes the daemon's output lines ("[Name] ") and names its log
	// file (Name.log).
	Name string
	// Binary is the path of the executable.
	Binary string
	Args   []string
	// Env is added to drover's own environment.
	Env []string
	// Ready tells when the daemon serves; nil means as soon as it started.
	Ready ReadinessCheck
}

// Config configures a Supervisor; zero fields take the defaults.
type Config struct {
	// LogDir receives one <name>.log per daemon, appended to across restarts
	// and runs; empty means no log files.
	LogDir string
	// Stdout and Stderr receive the daemons' stdout and stderr lines, each
	// prefixed with "[name] "; nil discards them.
	Stdout, Stderr io.Writer
	// Logger reports starts, exits, restarts and stops; nil means no logs.
	Logger *zap.Logger

	InitialBackoff    time.Duration
	MaxBackoff        time.Duration
	StopGracePeriod   time.Duration
	ReadyPollInterval time.Duration
}

// Status is a snapshot of one daemon.
type Status struct {
	// PID is the running process, 0 while none runs.
	PID int
	// Starts counts how often the daemon was started, restarts included.
	Starts int
	// LastExit describes how the previous process ended ("" before any did).
	LastExit string
}

// Supervisor runs daemons until Stop.
type Supervisor struct {
	cfg Config
	lg  *zap.Logger
	// outMu keeps output lines whole across all daemons.
	outMu sync.Mutex

	stopping chan struct{}
	stopOnce sync.Once

	mu        sync.Mutex
	stopped   bool
	processes map[string]*process
	order     []string

	// after waits between restarts; tests replace it to observe back-off.
	after func(time.Duration) <-chan time.Time
}

// process is the supervision state of one daemon.
type process struct {
	daemon  Daemon
	logFile *os.File
	stdout  *lineWriter
	stderr  *lineWriter
	done    chan struct{}

	mu     sync.Mutex
	status Status
}

// New returns a Supervisor that runs nothing yet.
func New(cfg Config) *Supervisor {
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = DefaultInitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.StopGracePeriod <= 0 {
		cfg.StopGracePeriod = DefaultStopGracePeriod
	}
	if cfg.ReadyPollInterval <= 0 {
		cfg.ReadyPollInterval = DefaultReadyPollInterval
	}
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Supervisor{
		cfg:       cfg,
		lg:        lg,
		stopping:  make(chan struct{}),
		processes: map[string]*process{},
		after:     time.After,
	}
}

// Start starts d and keeps it running until Stop. It returns once the first
// process was started, or with the reason it could not be.
func (s *Supervisor) Start(d Daemon) error {
	if d.Name == "" {
		return errors.New("supervisor: daemon has no name")
	}
	binary, err := exec.LookPath(d.Binary)
	if err != nil {
		return fmt.Errorf("supervisor: daemon %s: %w", d.Name, err)
	}
	d.Binary = binary

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if _, ok := s.processes[d.Name]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicateDaemon, d.Name)
	}

	p := &process{daemon: d, done: make(chan struct{})}
	var file io.Writer
	if s.cfg.LogDir != "" {
		if err := os.MkdirAll(s.cfg.LogDir, 0o755); err != nil {
			return fmt.Errorf("supervisor: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(s.cfg.LogDir, d.Name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("supervisor: %w", err)
		}
		p.logFile, file = f, f
	}
	prefix := []byte("[" + d.Name + "] ")
	p.stdout = &lineWriter{sink: &lineSink{mu: &s.outMu, prefix: prefix, out: s.cfg.Stdout, file: file}}
	p.stderr = &lineWriter{sink: &lineSink{mu: &s.outMu, prefix: prefix, out: s.cfg.Stderr, file: file}}

	cmd, err := s.spawn(p)
	if err != nil {
		if p.logFile != nil {
			p.logFile.Close()
		}
		return err
	}
	s.processes[d.Name] = p
	s.order = append(s.order, d.Name)
	go s.supervise(p, cmd)
	return nil
}

// spawn starts one process of p's daemon.
func (s *Supervisor) spawn(p *process) (*exec.Cmd, error) {
	d := p.daemon
	cmd := exec.Command(d.Binary, d.Args...)
	cmd.Env = append(os.Environ(), d.Env...)
	cmd.Stdout = p.stdout
	cmd.Stderr = p.stderr
	cmd.WaitDelay = outputDrainTimeout
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group: a terminal's Ctrl-C reaches drover only, which then
		// stops the daemons in order, and a stop reaches the daemon's own
		// children too.
		Setpgid: true,
		// Should drover die without stopping its daemons, they die too instead
		// of holding on to their ports.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := startOnLockedThread(cmd); err != nil {
		return nil, fmt.Errorf("supervisor: start %s: %w", d.Name, err)
	}
	p.mu.Lock()
	p.status.PID = cmd.Process.Pid
	p.status.Starts++
	p.mu.Unlock()
	s.lg.Info("started daemon", zap.String("daemon", d.Name), zap.Int("pid", cmd.Process.Pid), zap.String("binary", d.Binary))
	return cmd, nil
}

// supervise waits for p's process, restarting it after a back-off whenever
// it exits, until the supervisor stops.
func (s *Supervisor) supervise(p *process, cmd *exec.Cmd) {
	defer close(p.done)
	defer func() {
		if p.logFile != nil {
			p.logFile.Close()
		}
	}()
	name := p.daemon.Name
	bo := newBackoff(s.cfg.InitialBackoff, s.cfg.MaxBackoff)
	for {
		started := time.Now()
		if cmd != nil {
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				s.reap(p, cmd, err)
			case <-s.stopping:
				s.terminate(p, cmd, exited)
				return
			}
		}
		select {
		case <-s.stopping:
			return
		default:
		}

		delay := bo.delay(time.Since(started))
		p.mu.Lock()
		lastExit := p.status.LastExit
		p.mu.Unlock()
		s.lg.Warn("daemon exited; restarting", zap.String("daemon", name), zap.String("exit", lastExit), zap.Duration("backoff", delay))
		select {
		case <-s.after(delay):
		case <-s.stopping:
			return
		}

		var err error
		cmd, err = s.spawn(p)
		if err != nil {
			s.lg.Error("failed to restart daemon", zap.String("daemon", name), zap.Error(err))
			p.mu.Lock()
			p.status.LastExit = err.Error()
			p.mu.Unlock()
		}
	}
}

// reap records how a process ended and kills what it left in its group, so
// that leftovers do not hold the ports its successor needs.
func (s *Supervisor) reap(p *process, cmd *exec.Cmd, waitErr error) {
	pid := cmd.Process.Pid
	killGroup(pid, syscall.SIGKILL)
	p.stdout.flush()
	p.stderr.flush()
	exit := "exited"
	if waitErr != nil {
		exit = waitErr.Error()
	} else if cmd.ProcessState != nil {
		exit = cmd.ProcessState.String()
	}
	p.mu.Lock()
	p.status.PID = 0
	p.status.LastExit = exit
	p.mu.Unlock()
}

// terminate stops a running process: SIGTERM to its group, SIGKILL when it
// has not exited after the grace period.
func (s *Supervisor) terminate(p *process, cmd *exec.Cmd, exited <-chan error) {
	name, pid := p.daemon.Name, cmd.Process.Pid
	s.lg.Info("stopping daemon", zap.String("daemon", name), zap.Int("pid", pid))
	killGroup(pid, syscall.SIGTERM)
	var err error
	select {
	case err = <-exited:
	case <-time.After(s.cfg.StopGracePeriod):
		s.lg.Warn("daemon did not stop in time; killing it", zap.String("daemon", name), zap.Int("pid", pid), zap.Duration("grace", s.cfg.StopGracePeriod))
		killGroup(pid, syscall.SIGKILL)
		err = <-exited
	}
	s.reap(p, cmd, err)
	s.lg.Info("stopped daemon", zap.String("daemon", name), zap.String("exit", p.Status().LastExit))
}

// killGroup signals the process group led by pid. The group outlives its
// leader while members remain, and the kernel does not hand out its id again
// until then, so this is safe after the leader was reaped.
// An error means the group is gone already (ESRCH): nothing left to do.
func killGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

// Status returns a snapshot of the named daemon.
func (s *Supervisor) Status(name string) (Status, bool) {
	s.mu.Lock()
	p, ok := s.processes[name]
	s.mu.Unlock()
	if !ok {
		return Status{}, false
	}
	return p.Status(), true
}

func (p *process) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// WaitReady polls the named daemon's readiness check until it passes, ctx
// ends or the supervisor stops.
func (s *Supervisor) WaitReady(ctx context.Context, name string) error {
	s.mu.Lock()
	p, ok := s.processes[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownDaemon, name)
	}
	ticker := time.NewTicker(s.cfg.ReadyPollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		st := p.Status()
		if st.PID != 0 {
			if p.daemon.Ready == nil {
				return nil
			}
			actx, cancel := context.WithTimeout(ctx, readyAttemptTimeout)
			lastErr = p.daemon.Ready(actx)
			cancel()
			if lastErr == nil {
				return nil
			}
		}
		select {
		case <-ticker.C:
		case <-s.stopping:
			return ErrStopped
		case <-ctx.Done():
			st = p.Status()
			msg := fmt.Sprintf("%v: %s (started %d times", ErrNotReady, name, st.Starts)
			if st.LastExit != "" {
				msg += ", last exit: " + st.LastExit
			}
			if lastErr != nil {
				msg += ", last check: " + lastErr.Error()
			}
			return &notReadyError{msg: msg + ")", cause: ctx.Err()}
		}
	}
}

type notReadyError struct {
	msg   string
	cause error
}

func (e *notReadyError) Error() string { return e.msg }

func (e *notReadyError) Is(target error) bool { return target == ErrNotReady }

func (e *notReadyError) Unwrap() error { return e.cause }

// Stop stops every daemon and returns once all have exited. Daemons are
// stopped at the same time, so stopping takes at most one grace period:
// they are API clients that tolerate the apiserver going away first.
func (s *Supervisor) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.stopping)
	})
	s.mu.Lock()
	procs := make([]*process, 0, len(s.order))
	for _, name := range s.order {
		procs = append(procs, s.processes[name])
	}
	s.mu.Unlock()
	for _, p := range procs {
		<-p.done
	}
}

// forkRequests go to a goroutine that holds one OS thread for good. Linux
// sends a child its parent-death signal when the thread that forked it
// exits, and Go ends threads whose goroutine exits while locked to them; if
// that thread had forked a daemon, the daemon would be killed. Forking from
// a thread that never exits avoids that.
var (
	forkOnce     sync.Once
	forkRequests chan forkRequest
)

type forkRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

func startOnLockedThread(cmd *exec.Cmd) error {
	forkOnce.Do(func() {
		forkRequests = make(chan forkRequest)
		go func() {
			runtime.LockOSThread()
			for req := range forkRequests {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	forkRequests <- forkRequest{cmd: cmd, errc: errc}
	return <-errc
}
