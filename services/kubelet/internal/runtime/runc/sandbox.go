package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
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

// readSandbox reads sandbox.json.
func (r *Runtime) readSandbox(id string) (*sandboxMeta, error) {
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

// loadSandbox returns a sandbox's cached entry.
func (r *Runtime) loadSandbox(id string) (*sandboxEntry, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: sandbox %q", runtime.ErrNotFound, id)
	}
	return r.sandboxEntryFor(id)
}

// probeSandboxReady checks a sandbox on disk: after a reboot the files are
// there but the namespaces are not.
func (r *Runtime) probeSandboxReady(m *sandboxMeta) bool {
	dir := r.sandboxDir(m.ID)
	if m.Stopped || !nsfs.IsMounted(filepath.Join(dir, "ipcns")) {
		return false
	}
	return m.Config.HostNetwork || nsfs.IsMounted(filepath.Join(dir, "netns"))
}

func (r *Runtime) sandboxStatus(se *sandboxEntry) *runtime.SandboxStatus {
	m := se.meta
	st := &runtime.SandboxStatus{
		ID: m.ID, PodUID: m.Config.PodUID, Name: m.Config.Name, Namespace: m.Config.Namespace,
		State: runtime.SandboxReady, IP: m.IP, CreatedAt: m.CreatedAt,
	}
	if !m.Config.HostNetwork {
		st.NetNSPath = filepath.Join(r.sandboxDir(m.ID), "netns")
	}
	if !se.ready {
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
	unlock := r.cache.pods.Lock(cfg.PodUID)
	defer unlock()
	for _, se := range r.podSandboxes(cfg.PodUID) {
		if se.ready {
			return r.sandboxStatus(se), nil
		}
	}
	m := &sandboxMeta{ID: newID(), Config: cfg, CreatedAt: time.Now()}
	dir := r.sandboxDir(m.ID)
	r.setPending(m.ID, true)
	ok := false
	defer func() {
		if !ok {
			_ = r.removeSandboxFiles(ctx, m)
			r.setPending(m.ID, false)
		}
	}()
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
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
	se := &sandboxEntry{meta: m, ready: true}
	r.putSandbox(se)
	r.lg.Info("pod sandbox ready", zap.String("sandbox", m.ID), zap.String("pod", cfg.Namespace+"/"+cfg.Name), zap.String("ip", m.IP))
	return r.sandboxStatus(se), nil
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
	se, err := r.loadSandbox(sandboxID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock := r.cache.pods.Lock(se.meta.Config.PodUID)
	defer unlock()
	// Another stop or a removal may have come first.
	se, err = r.loadSandbox(sandboxID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := se.meta
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
		stopped := *m
		stopped.Stopped = true
		if err := writeJSON(filepath.Join(r.sandboxDir(m.ID), "sandbox.json"), &stopped); err != nil {
			return err
		}
		r.putSandbox(&sandboxEntry{meta: &stopped})
	}
	return nil
}

// RemovePodSandbox stops the sandbox and removes its containers, files,
// logs and pod cgroup.
func (r *Runtime) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	se, err := r.loadSandbox(sandboxID)
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
	unlock := r.cache.pods.Lock(se.meta.Config.PodUID)
	defer unlock()
	// Re-read: StopPodSandbox replaced the entry.
	if cur, err := r.loadSandbox(sandboxID); err == nil {
		se = cur
	}
	if err := r.removeSandboxFiles(ctx, se.meta); err != nil {
		return err
	}
	r.dropSandbox(sandboxID)
	r.lg.Info("pod sandbox removed", zap.String("sandbox", sandboxID))
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
	for _, o := range r.podSandboxes(m.Config.PodUID) {
		if o.meta.ID != m.ID {
			others = true
		}
	}
	if !others {
		errs = append(errs, os.RemoveAll(r.podLogDir(m.Config)))
		errs = append(errs, r.removePodCgroups(m.Config.PodUID))
	}
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// removePodCgroups removes <parent>/pod<uid> in every hierarchy, with
// whatever container cgroups are still below it: a container whose
// libcontainer state was already gone (stopped while the kubelet was down,
// then cleaned up) leaves its cgroup behind, and its pod's cgroup cannot be
// removed before it.
func (r *Runtime) removePodCgroups(podUID string) error {
	rel := filepath.Join(r.opts.CgroupParent, "pod"+podUID)
	var errs []error
	for _, root := range cgroupRoots() {
		if err := removeCgroupTree(filepath.Join(root, rel)); err != nil {
			errs = append(errs, fmt.Errorf("runc: remove pod cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RemoveCgroupParent removes the node's cgroup parent in every hierarchy,
// and drover's top cgroup, once nothing is left under them (a clean-up's
// last step, after every pod went). A parent still in use (another
// kubelet's: two local clusters may both have a node-1) stays.
func (r *Runtime) RemoveCgroupParent() error {
	var errs []error
	for _, root := range cgroupRoots() {
		for dir := r.opts.CgroupParent; dir != "." && dir != "/"; dir = filepath.Dir(dir) {
			err := unix.Rmdir(filepath.Join(root, dir))
			if errors.Is(err, unix.EBUSY) {
				break
			}
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
				errs = append(errs, fmt.Errorf("runc: remove cgroup parent: %w", err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupRoots are the roots of every hierarchy: each cgroup v1 controller's
// and the unified one (cgroup v2 alone is mounted at the top).
func cgroupRoots() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	return append(roots, "/sys/fs/cgroup")
}

// cgroupBusyWait bounds the wait for killed processes to leave a cgroup.
const cgroupBusyWait = 2 * time.Second

// removeCgroupTree removes the cgroup at path and every cgroup below it,
// deepest first. Processes still in them belong to containers being
// removed: they are killed, and removal waits for them to leave.
func removeCgroupTree(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(path, e.Name())); err != nil {
				return err
			}
		}
	}
	if procs, err := os.ReadFile(filepath.Join(path, "cgroup.procs")); err == nil {
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	deadline := time.Now().Add(cgroupBusyWait)
	for {
		err := unix.Rmdir(path)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// podCgroup is a container's cgroup path from each hierarchy's root.
func (r *Runtime) podCgroup(podUID, containerID string) string {
	return "/" + filepath.Join(r.opts.CgroupParent, "pod"+podUID, containerID)
}

// ListPodSandboxes lists all sandboxes, newest first.
func (r *Runtime) ListPodSandboxes(ctx context.Context) ([]*runtime.SandboxStatus, error) {
	all, err := r.syncSandboxDirs()
	if err != nil {
		return nil, err
	}
	out := make([]*runtime.SandboxStatus, 0, len(all))
	for _, se := range all {
		out = append(out, r.sandboxStatus(se))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// podSandboxes returns the cached sandboxes of a pod.
func (r *Runtime) podSandboxes(podUID string) []*sandboxEntry {
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*sandboxEntry
	for _, se := range c.sandboxes {
		if se.meta.Config.PodUID == podUID {
			out = append(out, se)
		}
	}
	return out
}
