// Package runc is the kubelet's container runtime on runc's libcontainer,
// in-process: no containerd, no runc binary.
//
// A pod sandbox is a set of namespaces held by bind mounts (network, IPC,
// UTS; no pause process) plus the files the kubelet writes for the pod
// (/etc/hosts, /etc/hostname, /etc/resolv.conf) and a shared /dev/shm.
// A container is a libcontainer container whose rootfs is an overlay of the
// image's layers, joined to its sandbox's namespaces.
//
// Each container has a shim: the kubelet binary re-executed as
// `<exe> shim <dir>` in a session of its own. The shim creates the
// container, so the container's init is the shim's child, not the kubelet's;
// it copies stdout/stderr into the CRI log file and, when the container
// exits, writes its exit code, time and OOM verdict to exit.json. Running
// containers and their logs thus survive kubelet restarts, and an exit
// while the kubelet is down is still reported. Everything lives under the
// root dir, so a new Runtime on the same root adopts what an earlier
// process made. What is on disk is also kept in memory (see cache.go), so
// that listing and status, which the kubelet calls all the time, read no
// files while nothing changes.
//
// The binary must hand control to this package before anything else when
// re-executed: call HandleReexec first in main (and TestMain). It must be
// built with cgo (libcontainer's nsenter) and the "seccomp" build tag with
// libseccomp's headers (the default seccomp profile).
package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"go.uber.org/zap"

	// Device rules for the cgroup managers.
	_ "github.com/opencontainers/cgroups/devices"
	// The C constructor that runs `runc init`'s namespace set-up before
	// the Go runtime starts.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"drover.dev/kubelet/internal/logs"
	"drover.dev/kubelet/internal/runtime"
)

// Arguments the binary is re-executed with.
const (
	initArg = "init"
	shimArg = "shim"
)

// Errors of this package.
var (
	// ErrInvalid means a config the runtime cannot run.
	ErrInvalid = errors.New("runc: invalid config")
	// ErrNotReady means the sandbox is stopped.
	ErrNotReady = errors.New("runc: sandbox not ready")
	// ErrBadState means the container is not in a state the call needs.
	ErrBadState = errors.New("runc: container in wrong state")
)

// HandleReexec runs `runc init` or the container shim when the process was
// started as one (os.Args[1] is "init" or "shim") and never returns then;
// otherwise it returns at once. Call it first in main.
func HandleReexec() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case initArg:
		libcontainer.Init() // never returns
	case shimArg:
		os.Exit(shimMain(os.Args[2:]))
	}
}

// LayerSource gives an image's unpacked layer directories, base layer first
// (the manifest's order).
type LayerSource interface {
	LayerDirs(imageID string) ([]string, error)
}

// Network wires a sandbox's network namespace to the node; see package
// network.
type Network interface {
	Setup(ctx context.Context, netnsPath, podUID string) (net.IP, error)
	Teardown(ctx context.Context, netnsPath, podUID string) error
}

// Options configure a Runtime.
type Options struct {
	// RootDir holds all state: sandboxes/, containers/, logs/, state/.
	RootDir string
	// Layers resolves image IDs to layer directories.
	Layers LayerSource
	// Network sets up pod networking; nil leaves pods with only lo.
	Network Network
	// CgroupParent is the cgroup (from each hierarchy's root) under which
	// pod cgroups go: <parent>/pod<uid>/<container id>. "drover" if "".
	CgroupParent string
	// ShimBinary is the executable re-run as shim and `runc init`;
	// /proc/self/exe resolved at New when "".
	ShimBinary string
	// LogMaxSize and LogMaxFiles rotate container logs (logs defaults).
	LogMaxSize  int64
	LogMaxFiles int
	Logger      *zap.Logger
}

// Runtime runs pods with libcontainer. It implements runtime.Runtime.
type Runtime struct {
	opts     Options
	lg       *zap.Logger
	stateDir string // libcontainer's root
	memsw    bool

	// cache holds sandboxes and containers in memory; see cache.go.
	cache *state
}

var _ runtime.Runtime = (*Runtime)(nil)

// New checks opts and prepares the root dir.
func New(opts Options) (*Runtime, error) {
	if opts.RootDir == "" {
		return nil, errors.New("runc: no root dir")
	}
	if opts.Layers == nil {
		return nil, errors.New("runc: no layer source")
	}
	if !seccomp.Enabled {
		return nil, errors.New(`runc: built without seccomp; build with -tags seccomp (and libseccomp-dev)`)
	}
	if opts.CgroupParent == "" {
		opts.CgroupParent = "drover"
	}
	if !filepath.IsLocal(opts.CgroupParent) {
		return nil, fmt.Errorf("runc: cgroup parent %q must be a relative path", opts.CgroupParent)
	}
	if opts.ShimBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("runc: own executable: %w", err)
		}
		opts.ShimBinary = exe
	}
	root, err := filepath.Abs(opts.RootDir)
	if err != nil {
		return nil, err
	}
	opts.RootDir = root
	for _, d := range []string{"sandboxes", "containers", "logs", "state"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o711); err != nil {
			return nil, err
		}
	}
	lg := opts.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	r := &Runtime{opts: opts, lg: lg, stateDir: filepath.Join(root, "state"), memsw: memswAccounted(), cache: newState()}
	if err := r.loadAll(); err != nil {
		return nil, err
	}
	return r, nil
}

// Type is "runc".
func (r *Runtime) Type() string { return "runc" }

// Version is libcontainer's module version.
func (r *Runtime) Version() string { return libcontainerVersion() }

// Status checks that the root dir is usable and cgroups are mounted.
func (r *Runtime) Status(ctx context.Context) error {
	if _, err := os.Stat(r.stateDir); err != nil {
		return fmt.Errorf("runc: state dir: %w", err)
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		return fmt.Errorf("runc: cgroups: %w", err)
	}
	return nil
}

func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.opts.RootDir, "sandboxes", id) }
func (r *Runtime) containerDir(id string) string {
	return filepath.Join(r.opts.RootDir, "containers", id)
}

// podLogDir is Kubernetes' /var/log/pods/<ns>_<name>_<uid> under the root.
func (r *Runtime) podLogDir(cfg runtime.SandboxConfig) string {
	return filepath.Join(r.opts.RootDir, "logs", cfg.Namespace+"_"+cfg.Name+"_"+cfg.PodUID)
}

func (r *Runtime) logOptions() logs.WriterOptions {
	return logs.WriterOptions{MaxSize: r.opts.LogMaxSize, MaxFiles: r.opts.LogMaxFiles}
}

// newID makes a 32-hex-digit id.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// validID accepts only ids this package makes, so paths cannot escape.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
