package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/nsfs"
	"drover.dev/kubelet/internal/runtime"
)

// sandboxMeta is sandboxes/<id>/sandbox.json.
type sandboxMeta struct {
	ID        string
	Config    runtime.SandboxConfig
	IP        string
	CreatedAt time.Time
	// Stopped is set by StopPodSandbox; a stopped sandbox is not reused.
	Stopped bool
}

func (m *sandboxMeta) hostname() string {
	if m.Config.HostNetwork {
		h, _ := os.Hostname()
		return h
	}
	if m.Config.Hostname != "" {
		return m.Config.Hostname
	}
	return m.Config.Name
}

func (r *Runtime) loadSandbox(id string) (*sandboxMeta, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: sandbox %q", runtime.ErrNotFound, id)
	}
	var m sandboxMeta
	if err := readJSON(filepath.Join(r.sandboxDir(id), "sandbox.json"), &m); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: sandbox %s", runtime.ErrNotFound, id)
		}
		return nil, err
	}
	return &m, nil
}

func (r *Runtime) sandboxStatus(m *sandboxMeta) *runtime.SandboxStatus {
	dir := r.sandboxDir(m.ID)
	st := &runtime.SandboxStatus{
		ID: m.ID, PodUID: m.Config.PodUID, Name: m.Config.Name, Namespace: m.Config.Namespace,
		State: runtime.SandboxReady, IP: m.IP, CreatedAt: m.CreatedAt,
	}
	if !m.Config.HostNetwork {
		st.NetNSPath = filepath.Join(dir, "netns")
	}
	// After a reboot the files are there but the namespaces are not.
	if m.Stopped || !nsfs.IsMounted(filepath.Join(dir, "ipcns")) ||
		(!m.Config.HostNetwork && !nsfs.IsMounted(st.NetNSPath)) {
		st.State = runtime.SandboxNotReady
	}
	return st
}

func validSandboxConfig(cfg runtime.SandboxConfig) error {
	for name, v := range map[string]string{"pod UID": cfg.PodUID, "name": cfg.Name, "namespace": cfg.Namespace} {
		if v == "" {
			return fmt.Errorf("%w: empty %s", ErrInvalid, name)
		}
		// These end up in paths and cgroup names.
		if strings.ContainsAny(v, "/\x00\n") || v == "." || v == ".." {
			return fmt.Errorf("%w: bad %s %q", ErrInvalid, name, v)
		}
	}
	if len(cfg.Hostname) > 64 {
		return fmt.Errorf("%w: hostname longer than 64", ErrInvalid)
	}
	for _, ha := range cfg.HostAliases {
		if ha.IP == "" || strings.ContainsAny(ha.IP+strings.Join(ha.Hostnames, ""), "\n ") {
			return fmt.Errorf("%w: bad host alias %v", ErrInvalid, ha)
		}
	}
	return nil
}

// RunPodSandbox makes the pod's namespaces, network and files, or returns
// the ready sandbox the pod already has.
func (r *Runtime) RunPodSandbox(ctx context.Context, cfg runtime.SandboxConfig) (*runtime.SandboxStatus, error) {
	if err := validSandboxConfig(cfg); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	all, err := r.listSandboxMetas()
	if err != nil {
		return nil, err
	}
	for _, m := range all {
		if m.Config.PodUID == cfg.PodUID {
			if st := r.sandboxStatus(m); st.State == runtime.SandboxReady {
				return st, nil
			}
		}
	}
	m := &sandboxMeta{ID: newID(), Config: cfg, CreatedAt: time.Now()}
	dir := r.sandboxDir(m.ID)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.removeSandboxFiles(ctx, m)
		}
	}()
	if err := os.MkdirAll(r.podLogDir(cfg), 0o755); err != nil {
		return nil, err
	}
	paths := map[nsfs.Kind]string{nsfs.IPC: filepath.Join(dir, "ipcns")}
	if !cfg.HostNetwork {
		paths[nsfs.Net] = filepath.Join(dir, "netns")
		paths[nsfs.UTS] = filepath.Join(dir, "utsns")
	}
	if err := nsfs.Create(paths, m.hostname()); err != nil {
		return nil, err
	}
	shm := filepath.Join(dir, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return nil, err
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return nil, fmt.Errorf("runc: mount pod shm: %w", err)
	}
	if !cfg.HostNetwork && r.opts.Network != nil {
		ip, err := r.opts.Network.Setup(ctx, paths[nsfs.Net], cfg.PodUID)
		if err != nil {
			return nil, fmt.Errorf("runc: pod network: %w", err)
		}
		m.IP = ip.String()
	}
	if err := writePodFiles(dir, m); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), m); err != nil {
		return nil, err
	}
	ok = true
	r.lg.Info("pod sandbox ready", zap.String("sandbox", m.ID), zap.String("pod", cfg.Namespace+"/"+cfg.Name), zap.String("ip", m.IP))
	return r.sandboxStatus(m), nil
}

// writePodFiles writes hosts, hostname and resolv.conf as the kubelet does.
func writePodFiles(dir string, m *sandboxMeta) error {
	cfg := m.Config
	host := m.hostname()
	var hosts strings.Builder
	if cfg.HostNetwork {
		// hostNetwork pods see the node's hosts file.
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				hosts.WriteByte('\n')
			}
		}
	} else {
		hosts.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
		if m.IP != "" {
			fmt.Fprintf(&hosts, "%s\t%s\n", m.IP, host)
		}
	}
	if len(cfg.HostAliases) > 0 {
		hosts.WriteString("\n# Entries added by HostAliases.\n")
		for _, ha := range cfg.HostAliases {
			fmt.Fprintf(&hosts, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
		}
	}
	var resolv []byte
	if len(cfg.DNS.Servers)+len(cfg.DNS.Searches)+len(cfg.DNS.Options) == 0 {
		// dnsPolicy Default: the node's resolver configuration.
		resolv, _ = os.ReadFile("/etc/resolv.conf")
	} else {
		var b strings.Builder
		for _, s := range cfg.DNS.Servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(cfg.DNS.Searches) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.DNS.Searches, " "))
		}
		if len(cfg.DNS.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(cfg.DNS.Options, " "))
		}
		resolv = []byte(b.String())
	}
	for name, data := range map[string][]byte{
		"hosts": []byte(hosts.String()), "hostname": []byte(host + "\n"), "resolv.conf": resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// StopPodSandbox kills the sandbox's containers and tears its network down.
func (r *Runtime) StopPodSandbox(ctx context.Context, sandboxID string) error {
	m, err := r.loadSandbox(sandboxID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cs, err := r.ListContainers(ctx, sandboxID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.State == runtime.ContainerRunning || c.State == runtime.ContainerCreated {
			if err := r.StopContainer(ctx, c.ID, 0); err != nil {
				return err
			}
		}
	}
	if !m.Config.HostNetwork && r.opts.Network != nil {
		if err := r.opts.Network.Teardown(ctx, filepath.Join(r.sandboxDir(m.ID), "netns"), m.Config.PodUID); err != nil {
			return err
		}
	}
	if !m.Stopped {
		m.Stopped = true
		return writeJSON(filepath.Join(r.sandboxDir(m.ID), "sandbox.json"), m)
	}
	return nil
}

// RemovePodSandbox stops the sandbox and removes its containers, files,
// logs and pod cgroup.
func (r *Runtime) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	m, err := r.loadSandbox(sandboxID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.StopPodSandbox(ctx, sandboxID); err != nil {
		return err
	}
	cs, err := r.ListContainers(ctx, sandboxID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.removeSandboxFiles(ctx, m); err != nil {
		return err
	}
	r.lg.Info("pod sandbox removed", zap.String("sandbox", m.ID))
	return nil
}

// removeSandboxFiles unmounts and deletes what RunPodSandbox made.
func (r *Runtime) removeSandboxFiles(ctx context.Context, m *sandboxMeta) error {
	dir := r.sandboxDir(m.ID)
	var errs []error
	if !m.Config.HostNetwork && r.opts.Network != nil && m.IP != "" && !m.Stopped {
		errs = append(errs, r.opts.Network.Teardown(ctx, filepath.Join(dir, "netns"), m.Config.PodUID))
	}
	for _, ns := range []string{"netns", "ipcns", "utsns"} {
		errs = append(errs, nsfs.Remove(filepath.Join(dir, ns)))
	}
	if err := unix.Unmount(filepath.Join(dir, "shm"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("runc: unmount pod shm: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only other sandboxes of the same pod may share the log dir.
	others := false
	if all, err := r.listSandboxMetas(); err == nil {
		for _, o := range all {
			if o.ID != m.ID && o.Config.PodUID == m.Config.PodUID {
				others = true
			}
		}
	}
	if !others {
		errs = append(errs, os.RemoveAll(r.podLogDir(m.Config)))
		errs = append(errs, r.removePodCgroups(m.Config.PodUID))
	}
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// removePodCgroups removes <parent>/pod<uid> in every hierarchy.
func (r *Runtime) removePodCgroups(podUID string) error {
	rel := filepath.Join(r.opts.CgroupParent, "pod"+podUID)
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var errs []error
	for _, root := range roots {
		if err := unix.Rmdir(filepath.Join(root, rel)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			errs = append(errs, fmt.Errorf("runc: remove pod cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// podCgroup is a container's cgroup path from each hierarchy's root.
func (r *Runtime) podCgroup(podUID, containerID string) string {
	return "/" + filepath.Join(r.opts.CgroupParent, "pod"+podUID, containerID)
}

// ListPodSandboxes lists all sandboxes on disk, newest first.
func (r *Runtime) ListPodSandboxes(ctx context.Context) ([]*runtime.SandboxStatus, error) {
	all, err := r.listSandboxMetas()
	if err != nil {
		return nil, err
	}
	out := make([]*runtime.SandboxStatus, 0, len(all))
	for _, m := range all {
		out = append(out, r.sandboxStatus(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

func (r *Runtime) listSandboxMetas() ([]*sandboxMeta, error) {
	ents, err := os.ReadDir(filepath.Join(r.opts.RootDir, "sandboxes"))
	if err != nil {
		return nil, err
	}
	var out []*sandboxMeta
	for _, e := range ents {
		m, err := r.loadSandbox(e.Name())
		if err != nil {
			// Half-made (crash during RunPodSandbox) or foreign: skip.
			continue
		}
		out = append(out, m)
	}
	return out, nil
}
