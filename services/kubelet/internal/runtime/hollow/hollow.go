// Package hollow is a runtime in which nothing runs: sandboxes get an IP
// from the node's pod CIDR, containers go from created to running at once
// and stay so until stopped. It lets one machine hold many simulated nodes
// for control-plane scale tests, as Kubernetes' kubemark does; tests use
// Exit to play a container ending.
package hollow

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"

	"drover.dev/kubelet/internal/runtime"
)

// InitLabel marks init containers, which end with 0 as soon as they start.
const InitLabel = "io.kubernetes.container.init"

// Runtime is a hollow runtime and image service.
type Runtime struct {
	mu         sync.Mutex
	cidr       netip.Prefix
	next       netip.Addr
	used       map[netip.Addr]bool
	sandboxes  map[string]*runtime.SandboxStatus
	containers map[string]*container
	images     map[string]*runtime.Image
	// PullDelay is how long a pull pretends to take.
	PullDelay time.Duration
	// EndInitContainers makes init containers end with 0 as they start
	// (default); tests turn it off to end them with Exit.
	EndInitContainers bool
}

type container struct {
	status runtime.ContainerStatus
	logs   []byte
}

var (
	_ runtime.Runtime      = &Runtime{}
	_ runtime.ImageService = &Runtime{}
)

// New returns an empty hollow runtime.
func New() *Runtime {
	return &Runtime{
		used:       map[netip.Addr]bool{},
		sandboxes:  map[string]*runtime.SandboxStatus{},
		containers: map[string]*container{},
		images:     map[string]*runtime.Image{},

		EndInitContainers: true,
	}
}

// SetPodCIDR sets the range pod IPs come from.
func (r *Runtime) SetPodCIDR(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("hollow: pod cidr: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cidr = p.Masked()
	r.next = r.cidr.Addr().Next()
	return nil
}

func (r *Runtime) Type() string                 { return "hollow" }
func (r *Runtime) Version() string              { return "0.1.0" }
func (r *Runtime) Status(context.Context) error { return nil }

func (r *Runtime) allocateIP() (string, error) {
	if !r.cidr.IsValid() {
		return "", fmt.Errorf("hollow: no pod CIDR yet")
	}
	start := r.next
	for {
		a := r.next
		r.next = r.next.Next()
		if !r.cidr.Contains(r.next) {
			r.next = r.cidr.Addr().Next()
		}
		if !r.used[a] && r.cidr.Contains(a.Next()) { // skip the broadcast address
			r.used[a] = true
			return a.String(), nil
		}
		if r.next == start {
			return "", fmt.Errorf("hollow: pod CIDR %s is full", r.cidr)
		}
	}
}

// RunPodSandbox implements runtime.Runtime.
func (r *Runtime) RunPodSandbox(_ context.Context, cfg runtime.SandboxConfig) (*runtime.SandboxStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sandboxes {
		if s.PodUID == cfg.PodUID && s.State == runtime.SandboxReady {
			c := *s
			return &c, nil
		}
	}
	s := &runtime.SandboxStatus{ID: string(uuid.NewUUID()), PodUID: cfg.PodUID, Name: cfg.Name, Namespace: cfg.Namespace,
		State: runtime.SandboxReady, CreatedAt: time.Now()}
	if !cfg.HostNetwork {
		ip, err := r.allocateIP()
		if err != nil {
			return nil, err
		}
		s.IP = ip
	}
	r.sandboxes[s.ID] = s
	c := *s
	return &c, nil
}

// StopPodSandbox implements runtime.Runtime.
func (r *Runtime) StopPodSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	for _, c := range r.containers {
		if c.status.SandboxID == id && c.status.State == runtime.ContainerRunning {
			r.exit(c, 137, "Error")
		}
	}
	if s.IP != "" {
		delete(r.used, netip.MustParseAddr(s.IP))
	}
	s.State = runtime.SandboxNotReady
	return nil
}

// RemovePodSandbox implements runtime.Runtime.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	if err := r.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for cid, c := range r.containers {
		if c.status.SandboxID == id {
			delete(r.containers, cid)
		}
	}
	delete(r.sandboxes, id)
	return nil
}

// ListPodSandboxes implements runtime.Runtime.
func (r *Runtime) ListPodSandboxes(context.Context) ([]*runtime.SandboxStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*runtime.SandboxStatus, 0, len(r.sandboxes))
	for _, s := range r.sandboxes {
		c := *s
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// CreateContainer implements runtime.Runtime.
func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.sandboxes[sandboxID]
	if !ok || s.State != runtime.SandboxReady {
		return "", fmt.Errorf("hollow: sandbox %s: %w", sandboxID, runtime.ErrNotFound)
	}
	id := string(uuid.NewUUID())
	r.containers[id] = &container{status: runtime.ContainerStatus{
		ID: id, SandboxID: sandboxID, Name: cfg.Name, Attempt: cfg.Attempt, State: runtime.ContainerCreated,
		CreatedAt: time.Now(), Image: cfg.Image, ImageRef: cfg.ImageRef, Labels: cfg.Labels,
	}}
	return id, nil
}

// StartContainer implements runtime.Runtime.
func (r *Runtime) StartContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("hollow: container %s: %w", id, runtime.ErrNotFound)
	}
	if c.status.State != runtime.ContainerCreated {
		return fmt.Errorf("hollow: container %s is %s", id, c.status.State)
	}
	c.status.State = runtime.ContainerRunning
	c.status.StartedAt = time.Now()
	c.logs = fmt.Appendf(c.logs, "hollow container %s started\n", c.status.Name)
	if r.EndInitContainers && c.status.Labels[InitLabel] == "true" {
		r.exit(c, 0, "Completed") // init containers succeed at once
	}
	return nil
}

func (r *Runtime) exit(c *container, code int32, reason string) {
	c.status.State = runtime.ContainerExited
	c.status.ExitCode = code
	c.status.Reason = reason
	c.status.FinishedAt = time.Now()
}

// Exit plays a running container ending with code; reason "" means
// Completed for 0 and Error otherwise.
func (r *Runtime) Exit(id string, code int32, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.status.State != runtime.ContainerRunning {
		return fmt.Errorf("hollow: container %s not running", id)
	}
	if reason == "" {
		reason = "Completed"
		if code != 0 {
			reason = "Error"
		}
	}
	r.exit(c, code, reason)
	return nil
}

// StopContainer implements runtime.Runtime.
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil
	}
	if c.status.State == runtime.ContainerRunning || c.status.State == runtime.ContainerCreated {
		r.exit(c, 143, "Error")
	}
	return nil
}

// RemoveContainer implements runtime.Runtime.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.containers, id)
	return nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(_ context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*runtime.ContainerStatus
	for _, c := range r.containers {
		if sandboxID == "" || c.status.SandboxID == sandboxID {
			s := c.status
			out = append(out, &s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(_ context.Context, id string) (*runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("hollow: container %s: %w", id, runtime.ErrNotFound)
	}
	s := c.status
	return &s, nil
}

// ContainerLogs implements runtime.Runtime: hollow containers print nothing.
func (r *Runtime) ContainerLogs(_ context.Context, id string, _ runtime.LogOptions, w io.Writer) error {
	r.mu.Lock()
	c, ok := r.containers[id]
	var b []byte
	if ok {
		b = append(b, c.logs...)
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("hollow: container %s: %w", id, runtime.ErrNotFound)
	}
	_, err := w.Write(b)
	return err
}

// PullImage implements runtime.ImageService: any reference "pulls".
func (r *Runtime) PullImage(ctx context.Context, ref string, _ []runtime.RegistryAuth) (*runtime.Image, error) {
	if r.PullDelay > 0 {
		select {
		case <-time.After(r.PullDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := r.images[ref]
	if !ok {
		img = &runtime.Image{ID: "sha256:hollow-" + ref, RepoTags: []string{ref}, Cmd: []string{"sh"}}
		r.images[ref] = img
	}
	c := *img
	return &c, nil
}

// ImageStatus implements runtime.ImageService.
func (r *Runtime) ImageStatus(_ context.Context, ref string) (*runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, img := range r.images {
		if k == ref || img.ID == ref {
			c := *img
			return &c, nil
		}
	}
	return nil, runtime.ErrImageNotPresent
}

// ListImages implements runtime.ImageService.
func (r *Runtime) ListImages(context.Context) ([]*runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*runtime.Image
	for _, img := range r.images {
		c := *img
		out = append(out, &c)
	}
	return out, nil
}

// RemoveImage implements runtime.ImageService.
func (r *Runtime) RemoveImage(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, img := range r.images {
		if img.ID == id || k == id {
			delete(r.images, k)
		}
	}
	return nil
}

// ImportArchive implements runtime.ImageService; hollow nodes hold no files.
func (r *Runtime) ImportArchive(context.Context, string) ([]*runtime.Image, error) {
	return nil, fmt.Errorf("hollow: archives cannot be imported into a hollow node")
}
