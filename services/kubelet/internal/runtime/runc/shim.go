package runc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"drover.dev/kubelet/internal/logs"
)

// shimConfig is containers/<id>/shim.json: what the shim needs beside the
// OCI spec.
type shimConfig struct {
	ID          string
	StateDir    string // libcontainer root
	LogPath     string
	CgroupPath  string
	LogMaxSize  int64
	LogMaxFiles int
}

// exitRecord is containers/<id>/exit.json, written once by the shim.
type exitRecord struct {
	ExitCode   int32
	FinishedAt time.Time
	OOMKilled  bool
	Message    string `json:",omitempty"`
}

// startShim runs `<exe> shim <dir>` in a new session (so that signals to
// the kubelet's process group and the kubelet's exit leave it alone) and
// waits until it reports the container created. It returns the pid of the
// container's init process.
func (r *Runtime) startShim(ctx context.Context, dir string) (int, error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer syncR.Close()
	logf, err := os.OpenFile(filepath.Join(dir, shimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		syncW.Close()
		return 0, err
	}
	cmd := exec.Command(r.opts.ShimBinary, shimArg, dir)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{syncW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	syncW.Close()
	logf.Close()
	if err != nil {
		return 0, fmt.Errorf("runc: start shim: %w", err)
	}
	// Reap it if it ends while this process lives; if this process ends
	// first, init reaps it.
	go func() { _ = cmd.Wait() }()

	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(syncR).ReadString('\n')
		done <- result{strings.TrimSpace(line), err}
	}()
	select {
	case res := <-done:
		if pid, ok := strings.CutPrefix(res.line, "ok"); ok {
			// "ok <init pid>"; no pid only means no pidfd to watch.
			n, _ := strconv.Atoi(strings.TrimSpace(pid))
			return n, nil
		}
		if msg, ok := strings.CutPrefix(res.line, "error: "); ok {
			return 0, fmt.Errorf("runc: create container: %s", msg)
		}
		b, _ := os.ReadFile(filepath.Join(dir, shimLogFile))
		return 0, fmt.Errorf("runc: shim failed (%v): %s", res.err, strings.TrimSpace(string(b)))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return 0, ctx.Err()
	}
}

// shimMain is the shim process: it creates the container, reports to the
// kubelet on fd 3, copies the container's output into its log and records
// its exit. It returns the shim's exit code.
func shimMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: shim <container dir>")
		return 2
	}
	// Only the container's exit ends the shim.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	dir := args[0]
	report := os.NewFile(3, "sync")
	s, err := createForShim(dir)
	if err != nil {
		fmt.Fprintf(report, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		report.Close()
		fmt.Fprintln(os.Stderr, "shim:", err)
		return 1
	}
	pid, _ := s.proc.Pid()
	fmt.Fprintf(report, "ok %d\n", pid)
	report.Close()
	s.run()
	return 0
}

// shim holds a created container.
type shim struct {
	dir    string
	cfg    shimConfig
	proc   *libcontainer.Process
	out    *logs.Writer
	stdout *os.File
	stderr *os.File
}

func createForShim(dir string) (*shim, error) {
	var cfg shimConfig
	if err := readJSON(filepath.Join(dir, shimFile), &cfg); err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := readJSON(filepath.Join(dir, specFile), &spec); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, shimPidFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	lcfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: cfg.ID, Spec: &spec})
	if err != nil {
		return nil, err
	}
	out, err := logs.NewWriter(cfg.LogPath, logs.WriterOptions{MaxSize: cfg.LogMaxSize, MaxFiles: cfg.LogMaxFiles})
	if err != nil {
		return nil, err
	}
	c, err := libcontainer.Create(cfg.StateDir, cfg.ID, lcfg)
	if err != nil {
		out.Close()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	u := spec.Process.User
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	p := &libcontainer.Process{
		Args: spec.Process.Args, Env: spec.Process.Env, Cwd: spec.Process.Cwd,
		UID: int(u.UID), GID: int(u.GID), AdditionalGroups: groups,
		Stdout: outW, Stderr: errW,
		Init: true,
	}
	// Start without Exec: init waits on the exec fifo for StartContainer.
	if err := c.Start(p); err != nil {
		outW.Close()
		errW.Close()
		_ = c.Destroy()
		return nil, err
	}
	outW.Close()
	errW.Close()
	return &shim{dir: dir, cfg: cfg, proc: p, out: out, stdout: outR, stderr: errR}, nil
}

// run copies output until the container exits, then writes exit.json.
func (s *shim) run() {
	var wg sync.WaitGroup
	for stream, r := range map[logs.Stream]*os.File{logs.Stdout: s.stdout, logs.Stderr: s.stderr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.out.Copy(stream, r); err != nil {
				fmt.Fprintln(os.Stderr, "shim: copy", stream, err)
			}
		}()
	}
	ps, werr := s.proc.Wait()
	finished := time.Now()
	// Every process of the container's PID namespace died with its init,
	// so the pipes reach EOF; wait a little in case one was passed on.
	copied := make(chan struct{})
	go func() { wg.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(os.Stderr, "shim: output still open after exit; stop copying")
	}
	s.out.Close()

	rec := exitRecord{FinishedAt: finished, ExitCode: 255}
	switch {
	case ps != nil:
		ws, _ := ps.Sys().(syscall.WaitStatus)
		switch {
		case ws.Exited():
			rec.ExitCode = int32(ws.ExitStatus())
		case ws.Signaled():
			rec.ExitCode = 128 + int32(ws.Signal())
		}
	case werr != nil:
		rec.Message = werr.Error()
	}
	rec.OOMKilled = oomKilled(s.cfg.CgroupPath)
	if err := writeJSON(filepath.Join(s.dir, exitFile), rec); err != nil {
		fmt.Fprintln(os.Stderr, "shim: write exit record:", err)
	}
}

// oomKilled reads the memory cgroup's OOM kill count (v1 memory.oom_control,
// v2 memory.events).
func oomKilled(cgroupPath string) bool {
	file, key := filepath.Join("/sys/fs/cgroup/memory", cgroupPath, "memory.oom_control"), "oom_kill"
	if cgroups.IsCgroup2UnifiedMode() {
		file = filepath.Join("/sys/fs/cgroup", cgroupPath, "memory.events")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, err := strconv.Atoi(v)
			return err == nil && n > 0
		}
	}
	return false
}
