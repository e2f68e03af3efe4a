package runc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/logs"
	"drover.dev/kubelet/internal/runtime"
)

// containerMeta is containers/<id>/container.json.
type containerMeta struct {
	ID, SandboxID, PodUID, Name string
	Attempt                     uint32
	Image, ImageRef             string
	Labels                      map[string]string
	LogPath                     string
	CgroupPath                  string
	StopSignal                  string
	CreatedAt                   time.Time
}

// Files of a container dir.
const (
	metaFile    = "container.json"
	specFile    = "spec.json"
	shimFile    = "shim.json"
	exitFile    = "exit.json"
	startedFile = "started"
	shimPidFile = "shim.pid"
	shimLogFile = "shim.log"
	rootfsDir   = "rootfs"
)

// readContainer reads container.json.
func (r *Runtime) readContainer(id string) (*containerMeta, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: container %q", runtime.ErrNotFound, id)
	}
	var m containerMeta
	if err := readJSON(filepath.Join(r.containerDir(id), metaFile), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: container %s", runtime.ErrNotFound, id)
		}
		return nil, err
	}
	return &m, nil
}

// loadContainer returns a container's cached entry.
func (r *Runtime) loadContainer(id string) (*containerEntry, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: container %q", runtime.ErrNotFound, id)
	}
	return r.containerEntryFor(id)
}

func validContainerConfig(cfg runtime.ContainerConfig) error {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\x00") || cfg.Name == "." || cfg.Name == ".." {
		return fmt.Errorf("%w: container name %q", ErrInvalid, cfg.Name)
	}
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return fmt.Errorf("%w: empty command", ErrInvalid)
	}
	if cfg.ImageRef == "" {
		return fmt.Errorf("%w: no image", ErrInvalid)
	}
	if cfg.TTY || cfg.Stdin {
		return fmt.Errorf("%w: tty and stdin are not supported yet", ErrInvalid)
	}
	if cfg.StopSignal != "" {
		if _, err := parseSignal(cfg.StopSignal); err != nil {
			return err
		}
	}
	return nil
}

// CreateContainer mounts the container's rootfs, writes its spec and starts
// its shim, which creates the container up to the point where it waits to
// be started (`runc create`).
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (id string, err error) {
	if err := validContainerConfig(cfg); err != nil {
		return "", err
	}
	se, err := r.loadSandbox(sandboxID)
	if err != nil {
		return "", err
	}
	sb := se.meta
	if !se.ready {
		return "", fmt.Errorf("%w: %s", ErrNotReady, sandboxID)
	}
	layers, err := r.opts.Layers.LayerDirs(cfg.ImageRef)
	if err != nil {
		return "", fmt.Errorf("runc: layers of %s: %w", cfg.ImageRef, err)
	}
	newid := newID()
	id = newid
	dir := r.containerDir(id)
	r.setPending(id, true)
	defer func() {
		if err != nil {
			// The named id is "" by now.
			_ = r.destroy(newid)
			r.setPending(newid, false)
		}
	}()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", err
	}
	rootfs, err := mountRootfs(dir, layers)
	if err != nil {
		return "", err
	}
	m := &containerMeta{
		ID: id, SandboxID: sandboxID, PodUID: sb.Config.PodUID, Name: cfg.Name, Attempt: cfg.Attempt,
		Image: cfg.Image, ImageRef: cfg.ImageRef, Labels: cfg.Labels, StopSignal: cfg.StopSignal,
		LogPath:    filepath.Join(r.podLogDir(sb.Config), cfg.Name, strconv.FormatUint(uint64(cfg.Attempt), 10)+".log"),
		CgroupPath: r.podCgroup(sb.Config.PodUID, id),
		CreatedAt:  time.Now(),
	}
	if err := os.MkdirAll(filepath.Dir(m.LogPath), 0o755); err != nil {
		return "", err
	}
	spec, err := buildSpec(specInput{
		id: id, cfg: cfg, sandbox: sb, rootfs: rootfs, sbDir: r.sandboxDir(sandboxID),
		cgroup: m.CgroupPath, memsw: r.memsw,
	})
	if err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, specFile), spec); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, shimFile), shimConfig{
		ID: id, StateDir: r.stateDir, LogPath: m.LogPath, CgroupPath: m.CgroupPath,
		LogMaxSize: r.opts.LogMaxSize, LogMaxFiles: r.opts.LogMaxFiles,
	}); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(dir, metaFile), m); err != nil {
		return "", err
	}
	pid, err := r.startShim(ctx, dir)
	if err != nil {
		return "", err
	}
	ce := newContainerEntry(m)
	ce.mu.Lock()
	ce.watch(pid, runtime.ContainerCreated)
	ce.mu.Unlock()
	r.putContainer(ce)
	r.lg.Debug("container created", zap.String("container", id), zap.String("name", cfg.Name), zap.String("sandbox", sandboxID))
	return id, nil
}

// StartContainer lets a created container exec its process.
func (r *Runtime) StartContainer(ctx context.Context, containerID string) error {
	ce, err := r.loadContainer(containerID)
	if err != nil {
		return err
	}
	c, err := libcontainer.Load(r.stateDir, containerID)
	if err != nil {
		return fmt.Errorf("%w: container %s: %v", runtime.ErrNotFound, containerID, err)
	}
	ce.mu.Lock()
	defer ce.mu.Unlock()
	// Checked after the pidfd was opened, this also proves the pidfd is
	// the init process's and not a later process's with its pid.
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st != libcontainer.Created {
		return fmt.Errorf("%w: %s is %s, not created", ErrBadState, containerID, st)
	}
	started := time.Now()
	if err := c.Exec(); err != nil {
		return fmt.Errorf("runc: start %s: %w", containerID, err)
	}
	if err := os.WriteFile(filepath.Join(r.containerDir(containerID), startedFile), []byte(started.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
		return err
	}
	ce.started = started.UTC()
	if ce.live == runtime.ContainerCreated {
		ce.live = runtime.ContainerRunning
	}
	return nil
}

// initComm is the name `runc init` gives itself (nsenter's prctl).
const initComm = "runc:[2:INIT]"

// waitExecve waits (briefly) until the container's init has replaced itself
// with the container's process. libcontainer's Exec returns once init has
// read the go-ahead, a moment before its execve: a stop signal in between
// would reach `runc init`, not the process, which may trap or ignore it.
// Stopping waits for it rather than starting, which is far more frequent.
func waitExecve(pid int) {
	if pid <= 0 {
		return
	}
	path := fmt.Sprintf("/proc/%d/comm", pid)
	deadline := time.Now().Add(time.Second)
	for wait := 20 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) != initComm || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
}

// StopContainer signals the container and waits for its exit, killing it
// after timeout.
func (r *Runtime) StopContainer(ctx context.Context, containerID string, timeout time.Duration) error {
	ce, err := r.loadContainer(containerID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := ce.meta
	st, err := r.containerStatus(ce)
	if err != nil {
		return err
	}
	if st.State == runtime.ContainerExited || st.State == runtime.ContainerUnknown {
		return nil
	}
	c, err := libcontainer.Load(r.stateDir, containerID)
	if err != nil {
		return r.waitExit(ctx, ce, time.Second)
	}
	sig := unix.SIGTERM
	if m.StopSignal != "" {
		if s, err := parseSignal(m.StopSignal); err == nil {
			sig = s
		}
	}
	// A created container runs `runc init`, which no stop signal stops.
	if st.State == runtime.ContainerRunning && timeout > 0 {
		ce.mu.Lock()
		pid := ce.pid
		ce.mu.Unlock()
		if pid <= 0 {
			if s, err := c.State(); err == nil {
				pid = s.InitProcessPid
			}
		}
		waitExecve(pid)
		if err := c.Signal(sig); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("runc: signal %s: %w", containerID, err)
		}
		if err := r.waitExit(ctx, ce, timeout); err == nil {
			return nil
		} else if ctx.Err() != nil {
			return err
		}
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("runc: kill %s: %w", containerID, err)
	}
	return r.waitExit(ctx, ce, 30*time.Second)
}

var errTimeout = errors.New("runc: timed out waiting for the container to exit")

// waitExit waits until the container's status is no longer created or
// running (its shim wrote exit.json, or it is gone).
func (r *Runtime) waitExit(ctx context.Context, ce *containerEntry, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := r.containerStatus(ce)
		if err != nil {
			return err
		}
		if st.State == runtime.ContainerExited || st.State == runtime.ContainerUnknown {
			return nil
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// RemoveContainer kills the container if it still runs and deletes it; its
// log stays until the sandbox is removed.
func (r *Runtime) RemoveContainer(ctx context.Context, containerID string) error {
	ce, err := r.loadContainer(containerID)
	if errors.Is(err, runtime.ErrNotFound) {
		if validID(containerID) {
			// A half-created one may have a dir but no meta.
			r.dropContainer(containerID)
			return r.destroy(containerID)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.StopContainer(ctx, containerID, 0); err != nil {
		return err
	}
	err = r.destroy(ce.meta.ID)
	r.dropContainer(ce.meta.ID)
	return err
}

// destroy removes libcontainer state and cgroup, the rootfs mount and the
// container dir.
func (r *Runtime) destroy(id string) error {
	var errs []error
	if c, err := libcontainer.Load(r.stateDir, id); err == nil {
		if st, _ := c.Status(); st != libcontainer.Stopped {
			_ = c.Signal(unix.SIGKILL)
		}
		errs = append(errs, c.Destroy())
	}
	dir := r.containerDir(id)
	if err := unix.Unmount(filepath.Join(dir, rootfsDir), unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("runc: unmount rootfs: %w", err))
	}
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// ListContainers lists the containers of a sandbox, or all with "".
func (r *Runtime) ListContainers(ctx context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	var ces []*containerEntry
	if sandboxID == "" {
		// Listing everything also picks up what another process made.
		all, err := r.syncContainerDirs()
		if err != nil {
			return nil, err
		}
		ces = all
	} else {
		ces = r.cachedContainers(sandboxID)
	}
	out := make([]*runtime.ContainerStatus, 0, len(ces))
	for _, ce := range ces {
		st, err := r.containerStatus(ce)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// ContainerStatus reports one container.
func (r *Runtime) ContainerStatus(ctx context.Context, containerID string) (*runtime.ContainerStatus, error) {
	ce, err := r.loadContainer(containerID)
	if err != nil {
		return nil, err
	}
	return r.containerStatus(ce)
}

// baseStatus is the part of a status that comes from the metadata.
func (r *Runtime) baseStatus(m *containerMeta) *runtime.ContainerStatus {
	return &runtime.ContainerStatus{
		ID: m.ID, SandboxID: m.SandboxID, Name: m.Name, Attempt: m.Attempt,
		CreatedAt: m.CreatedAt, Image: m.Image, ImageRef: m.ImageRef, LogPath: m.LogPath, Labels: maps.Clone(m.Labels),
	}
}

// probe is the full status check: the shim's exit record, the start stamp
// and libcontainer's view of the init process. final means the status can
// no longer change. With wantPid, the init process's pid is returned when
// it is created or running (read before the liveness check, so that a
// pidfd opened on it is known to be the init's).
func (r *Runtime) probe(m *containerMeta, wantPid bool) (st *runtime.ContainerStatus, pid int, final bool, err error) {
	dir := r.containerDir(m.ID)
	st = r.baseStatus(m)
	st.StartedAt = r.readStarted(m.ID)
	var ex exitRecord
	exitPath := filepath.Join(dir, exitFile)
	err = readJSON(exitPath, &ex)
	if err == nil {
		return exitedStatus(st, ex), 0, true, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, false, err
	}
	c, err := libcontainer.Load(r.stateDir, m.ID)
	if err != nil {
		st.State = runtime.ContainerUnknown
		st.Message = "container state lost: " + err.Error()
		return st, 0, false, nil
	}
	if wantPid {
		if s, err := c.State(); err == nil {
			pid = s.InitProcessPid
		}
	}
	cs, err := c.Status()
	if err != nil {
		return nil, 0, false, err
	}
	switch cs {
	case libcontainer.Created:
		st.State = runtime.ContainerCreated
		return st, pid, false, nil
	case libcontainer.Running, libcontainer.Paused:
		st.State = runtime.ContainerRunning
		return st, pid, false, nil
	}
	// Stopped without an exit record: the shim is writing it now, or
	// it is gone (killed, or a reboot) and the exit code with it.
	if r.shimAlive(dir) {
		st.State = runtime.ContainerRunning
		return st, 0, false, nil
	}
	// It may have written the record and exited since we looked.
	if err := readJSON(exitPath, &ex); err == nil {
		return exitedStatus(st, ex), 0, true, nil
	}
	st.State = runtime.ContainerExited
	st.ExitCode = 255
	st.Reason = "Error"
	st.Message = "exit code lost: the container's shim is gone"
	if fi, err := os.Stat(filepath.Join(dir, shimPidFile)); err == nil {
		st.FinishedAt = fi.ModTime()
	}
	return st, 0, true, nil
}

// exitedStatus fills st from the shim's exit record.
func exitedStatus(st *runtime.ContainerStatus, ex exitRecord) *runtime.ContainerStatus {
	st.State = runtime.ContainerExited
	st.ExitCode, st.FinishedAt, st.Message = ex.ExitCode, ex.FinishedAt, ex.Message
	switch {
	case ex.OOMKilled:
		st.Reason = "OOMKilled"
	case ex.ExitCode == 0:
		st.Reason = "Completed"
	default:
		st.Reason = "Error"
	}
	return st
}

// shimAlive reports whether the shim recorded in dir still runs.
func (r *Runtime) shimAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, shimPidFile))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	// The pid may have been reused: check it is our shim for this dir.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	return len(args) == 3 && args[1] == shimArg && args[2] == dir
}

// ContainerLogs writes the container's log; following ends when the
// container exits.
func (r *Runtime) ContainerLogs(ctx context.Context, containerID string, opts runtime.LogOptions, w io.Writer) error {
	ce, err := r.loadContainer(containerID)
	if err != nil {
		return err
	}
	return logs.ReadLogs(ctx, ce.meta.LogPath, logs.ReadOptions{
		Follow: opts.Follow, TailLines: opts.TailLines, LimitBytes: opts.LimitBytes,
		Since: opts.Since, Timestamps: opts.Timestamps,
		Running: func() bool {
			// The shim writes exit.json after the last log line, and the
			// status is exited only once it is there (or lost).
			st, err := r.containerStatus(ce)
			return err == nil && (st.State == runtime.ContainerRunning || st.State == runtime.ContainerCreated)
		},
	}, w)
}

// parseSignal accepts "SIGTERM", "TERM" or "15".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("%w: stop signal %q", ErrInvalid, s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("%w: stop signal %q", ErrInvalid, s)
	}
	return sig, nil
}

// mountRootfs mounts the overlay of layers (base first) with a writable
// upper dir of the container's own.
func mountRootfs(dir string, layers []string) (string, error) {
	if len(layers) == 0 {
		return "", fmt.Errorf("%w: image has no layers", ErrInvalid)
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, rootfsDir)
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	lower := slices.Clone(layers)
	slices.Reverse(lower) // overlay wants the top layer first
	for _, l := range lower {
		if !filepath.IsAbs(l) || strings.ContainsAny(l, ":,") {
			return "", fmt.Errorf("%w: layer dir %q", ErrInvalid, l)
		}
	}
	opts := "lowerdir=" + strings.Join(lower, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) >= unix.Getpagesize() {
		return "", fmt.Errorf("%w: %d layers make overlay options too long", ErrInvalid, len(layers))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("runc: mount rootfs: %w", err)
	}
	return merged, nil
}
