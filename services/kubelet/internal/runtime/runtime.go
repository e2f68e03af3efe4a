// Package runtime is the kubelet's container runtime interface, in the
// spirit of Kubernetes' CRI: pod sandboxes (a network namespace with IPC and
// UTS shared by the pod's containers), containers inside them, and images.
// The kubelet's pod logic (ordering, restarts, back-off, status) sits above
// it and is the same for every implementation: runc (real containers through
// libcontainer) and hollow (nothing runs; for control-plane scale tests).
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors shared by implementations.
var (
	// ErrNotFound means no sandbox, container or image has that id.
	ErrNotFound = errors.New("runtime: not found")
	// ErrImageNotPresent means the image must be pulled first.
	ErrImageNotPresent = errors.New("runtime: image not present")
)

// Runtime runs pod sandboxes and containers.
type Runtime interface {
	// Type is "runc" or "hollow"; Version its version string.
	Type() string
	Version() string
	// Status returns nil when the runtime can run pods.
	Status(ctx context.Context) error

	// RunPodSandbox creates (or, when one with the same pod UID exists,
	// returns) the pod's sandbox: network namespace and pod IP, IPC and UTS
	// namespaces, /etc/hosts, /etc/hostname and /etc/resolv.conf.
	RunPodSandbox(ctx context.Context, cfg SandboxConfig) (*SandboxStatus, error)
	// StopPodSandbox kills every container of the sandbox (no grace: the
	// kubelet stops them gracefully before) and tears its network down,
	// releasing the pod IP. Idempotent.
	StopPodSandbox(ctx context.Context, sandboxID string) error
	// RemovePodSandbox removes a stopped sandbox and all its containers,
	// files and logs. Idempotent.
	RemovePodSandbox(ctx context.Context, sandboxID string) error
	// ListPodSandboxes lists every sandbox the runtime knows, including ones
	// created by an earlier kubelet process (adoption after a restart).
	ListPodSandboxes(ctx context.Context) ([]*SandboxStatus, error)

	// CreateContainer prepares a container in a sandbox (rootfs, spec, log
	// file) without starting it.
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (containerID string, err error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, containerID string) error
	// StopContainer sends SIGTERM (or the image's stop signal) and SIGKILL
	// after timeout; it returns once the container has exited. Idempotent.
	StopContainer(ctx context.Context, containerID string, timeout time.Duration) error
	// RemoveContainer deletes an exited container (its log files stay until
	// the sandbox is removed, so that `logs --previous` works).
	RemoveContainer(ctx context.Context, containerID string) error
	// ListContainers lists containers of a sandbox ("" for all).
	ListContainers(ctx context.Context, sandboxID string) ([]*ContainerStatus, error)
	// ContainerStatus reports one container.
	ContainerStatus(ctx context.Context, containerID string) (*ContainerStatus, error)
	// ContainerLogs writes a container's log (CRI log format on disk) to w.
	ContainerLogs(ctx context.Context, containerID string, opts LogOptions, w io.Writer) error
}

// ImageService pulls, imports, lists and removes images.
type ImageService interface {
	// PullImage fetches ref (tag or digest) and returns the image.
	PullImage(ctx context.Context, ref string, auth []RegistryAuth) (*Image, error)
	// ImageStatus returns the local image for ref (a name, name:tag,
	// name@digest or image ID), or ErrImageNotPresent.
	ImageStatus(ctx context.Context, ref string) (*Image, error)
	ListImages(ctx context.Context) ([]*Image, error)
	RemoveImage(ctx context.Context, id string) error
	// ImportArchive loads every image of an OCI image layout archive (tar)
	// or a `docker save` tarball.
	ImportArchive(ctx context.Context, path string) ([]*Image, error)
}

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	PodUID, Name, Namespace string
	// Hostname is written to /etc/hostname and set as UTS hostname.
	Hostname string
	// HostNetwork runs the pod in the node's network namespace.
	HostNetwork bool
	DNS         DNSConfig
	// HostAliases are extra /etc/hosts lines (ip → names).
	HostAliases []HostAlias
	Labels      map[string]string
	Annotations map[string]string
}

// DNSConfig is written to the pod's /etc/resolv.conf.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// HostAlias is an /etc/hosts entry.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// SandboxState of a sandbox.
type SandboxState string

const (
	SandboxReady    SandboxState = "ready"
	SandboxNotReady SandboxState = "notready"
)

// SandboxStatus reports a sandbox.
type SandboxStatus struct {
	ID                      string
	PodUID, Name, Namespace string
	State                   SandboxState
	// IP is the pod IP ("" for hostNetwork; the node's IP is used then).
	IP        string
	NetNSPath string
	CreatedAt time.Time
}

// ContainerConfig describes a container. Command and Args follow Kubernetes'
// rules against the image's Entrypoint and Cmd; the kubelet resolves them,
// env and workingDir before calling the runtime.
type ContainerConfig struct {
	Name    string
	Attempt uint32
	// ImageRef is the image ID (config digest) returned by the ImageService.
	ImageRef string
	// Image is the reference the pod spec asked for.
	Image      string
	Command    []string // entrypoint + args, already resolved; never empty
	Env        []string // KEY=value, image env first then the pod's
	WorkingDir string   // "" means the image's, or /
	// User is the image's USER ("name", "uid", "name:group", "uid:gid"),
	// resolved in the container's /etc/passwd and /etc/group; used when
	// Security.RunAsUser is nil. "" means root.
	User string
	// StopSignal is the image's STOPSIGNAL ("SIGQUIT", "QUIT" or "3");
	// "" means SIGTERM. StopContainer sends it.
	StopSignal string
	Mounts     []Mount
	Resources  Resources
	Security   SecurityConfig
	TTY, Stdin bool
	Labels     map[string]string
}

// Mount is a bind mount from the host into the container.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Resources are cgroup limits derived from the container's resources.
type Resources struct {
	CPUShares   uint64 // from requests.cpu (2 minimum), as Kubernetes does
	CPUQuota    int64  // µs per CPUPeriod from limits.cpu; 0 = none
	CPUPeriod   uint64 // µs, 100000 when CPUQuota is set
	MemoryLimit int64  // bytes from limits.memory; 0 = none
	OOMScoreAdj int
	PidsLimit   int64 // 0 = none
}

// SecurityConfig is the part of securityContext the runtime applies.
type SecurityConfig struct {
	RunAsUser, RunAsGroup  *int64
	SupplementalGroups     []int64
	ReadOnlyRootFilesystem bool
	Privileged             bool
	NoNewPrivileges        bool     // allowPrivilegeEscalation=false
	CapAdd, CapDrop        []string // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL" allowed in drop
	Unconfined             bool     // seccompProfile Unconfined; default is the runtime's default profile
}

// ContainerState of a container.
type ContainerState string

const (
	ContainerCreated ContainerState = "created"
	ContainerRunning ContainerState = "running"
	ContainerExited  ContainerState = "exited"
	ContainerUnknown ContainerState = "unknown"
)

// ContainerStatus reports a container.
type ContainerStatus struct {
	ID, SandboxID string
	Name          string
	Attempt       uint32
	State         ContainerState
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	ExitCode      int32
	// Reason is "OOMKilled", "Completed" or "Error" once exited.
	Reason   string
	Message  string
	Image    string // as asked for
	ImageRef string // image ID
	LogPath  string
	Labels   map[string]string
}

// LogOptions select what ContainerLogs writes.
type LogOptions struct {
	Follow     bool
	TailLines  *int64
	LimitBytes *int64
	Since      time.Time // zero = from the start
	Timestamps bool
}

// RegistryAuth is a credential for one registry (from imagePullSecrets).
type RegistryAuth struct {
	Server             string // host[:port], e.g. "registry.example.com"
	Username, Password string
	Auth               string // base64 user:password, as in .dockerconfigjson
	IdentityToken      string
}

// Image is a local image.
type Image struct {
	ID          string   // sha256:<config digest>
	RepoTags    []string // e.g. "127.0.0.1:5000/busybox:1.35"
	RepoDigests []string // e.g. "127.0.0.1:5000/busybox@sha256:..."
	Size        int64
	// Config from the image: Entrypoint, Cmd, Env, WorkingDir, User, StopSignal.
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	StopSignal           string
}
