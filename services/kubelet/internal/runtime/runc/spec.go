package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/profiles/seccomp"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"drover.dev/kubelet/internal/runtime"
)

// defaultCaps is the capability set Docker and containerd give a container.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps lists capabilities in kernel order (index = number). A
// privileged container gets those of them the runtime itself holds.
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// Paths hidden and made read-only in unprivileged containers, as runc's and
// containerd's default spec.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// specInput is what a container's OCI spec is made from.
type specInput struct {
	id      string
	cfg     runtime.ContainerConfig
	sandbox *sandboxMeta
	rootfs  string // mounted overlay
	sbDir   string // sandbox dir with hosts, hostname, resolv.conf, shm, ns files
	cgroup  string // absolute cgroup path
	memsw   bool   // the memory cgroup accounts swap
}

// buildSpec makes the OCI runtime spec of a container, with the defaults of
// containerd's CRI plugin.
func buildSpec(in specInput) (*specs.Spec, error) {
	cfg := in.cfg
	uid, gid, groups, err := resolveUser(in.rootfs, cfg)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(cfg.Security)
	if err != nil {
		return nil, err
	}
	env := append([]string(nil), cfg.Env...)
	if !hasEnv(env, "PATH") {
		env = append([]string{defaultPath}, env...)
	}
	if !hasEnv(env, "HOSTNAME") {
		env = append(env, "HOSTNAME="+in.sandbox.hostname())
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("%w: working dir %q is not absolute", ErrInvalid, cwd)
	}
	sec := cfg.Security
	privileged := sec.Privileged
	var proc = &specs.Process{
		Args: cfg.Command,
		Env:  env,
		Cwd:  cwd,
		User: specs.User{UID: uint32(uid), GID: uint32(gid), AdditionalGids: groups},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: caps,
		},
		NoNewPrivileges: sec.NoNewPrivileges && !privileged,
	}
	// A non-root process starts with no effective capabilities, as Docker
	// and containerd do; the bounding set still limits what it may gain.
	if uid == 0 {
		proc.Capabilities.Effective = caps
		proc.Capabilities.Permitted = caps
	}
	if cfg.Resources.OOMScoreAdj != 0 {
		adj := cfg.Resources.OOMScoreAdj
		proc.OOMScoreAdj = &adj
	}

	const noexec = "noexec"
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", noexec, "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", noexec, "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", noexec, "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", noexec, "nodev", roUnless(privileged)}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", noexec, "nodev", "relatime", roUnless(privileged)}},
		// The pod's /dev/shm is one tmpfs shared by its containers, as
		// its IPC namespace is.
		{Destination: "/dev/shm", Type: "bind", Source: filepath.Join(in.sbDir, "shm"), Options: []string{"rbind", "rprivate", "nosuid", noexec, "nodev"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(in.sbDir, "hosts"), Options: []string{"rbind", "rprivate"}},
		{Destination: "/etc/hostname", Type: "bind", Source: filepath.Join(in.sbDir, "hostname"), Options: []string{"rbind", "rprivate"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(in.sbDir, "resolv.conf"), Options: []string{"rbind", "rprivate"}},
	}
	for _, m := range cfg.Mounts {
		if !filepath.IsAbs(m.ContainerPath) || m.HostPath == "" {
			return nil, fmt.Errorf("%w: mount %q → %q", ErrInvalid, m.HostPath, m.ContainerPath)
		}
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath, Options: opts})
	}

	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace},
		{Type: specs.MountNamespace},
		{Type: specs.IPCNamespace, Path: filepath.Join(in.sbDir, "ipcns")},
	}
	if !in.sandbox.Config.HostNetwork {
		namespaces = append(namespaces,
			specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: filepath.Join(in.sbDir, "netns")},
			specs.LinuxNamespace{Type: specs.UTSNamespace, Path: filepath.Join(in.sbDir, "utsns")})
	}

	res := &specs.LinuxResources{}
	if privileged {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	}
	r := cfg.Resources
	if r.CPUShares > 0 || r.CPUQuota > 0 {
		res.CPU = &specs.LinuxCPU{}
		if r.CPUShares > 0 {
			shares := r.CPUShares
			res.CPU.Shares = &shares
		}
		if r.CPUQuota > 0 {
			quota, period := r.CPUQuota, r.CPUPeriod
			if period == 0 {
				period = 100000
			}
			res.CPU.Quota, res.CPU.Period = &quota, &period
		}
	}
	if r.MemoryLimit > 0 {
		limit := r.MemoryLimit
		res.Memory = &specs.LinuxMemory{Limit: &limit}
		if in.memsw {
			// No swap beyond the limit, as the kubelet asks.
			swap := limit
			res.Memory.Swap = &swap
		}
	}
	if r.PidsLimit > 0 {
		res.Pids = &specs.LinuxPids{Limit: &r.PidsLimit}
	}

	spec := &specs.Spec{
		Version:  specs.Version,
		Process:  proc,
		Root:     &specs.Root{Path: in.rootfs, Readonly: sec.ReadOnlyRootFilesystem},
		Mounts:   mounts,
		Hostname: "",
		Linux: &specs.Linux{
			CgroupsPath: in.cgroup,
			Namespaces:  namespaces,
			Resources:   res,
		},
	}
	if !privileged {
		spec.Linux.MaskedPaths = maskedPaths
		spec.Linux.ReadonlyPaths = readonlyPaths
	}
	if !privileged && !sec.Unconfined {
		// Docker's default profile, with its capability-conditional
		// rules applied for this container's bounding set.
		sc, err := seccomp.GetDefaultProfile(spec)
		if err != nil {
			return nil, fmt.Errorf("runc: default seccomp profile: %w", err)
		}
		trimSeccompArches(sc)
		spec.Linux.Seccomp = sc
	}
	return spec, nil
}

func roUnless(privileged bool) string {
	if privileged {
		return "rw"
	}
	return "ro"
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// normalizeCap turns "net_admin" or "CAP_NET_ADMIN" into "CAP_NET_ADMIN".
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// capabilities applies add/drop to the default set (or all, privileged).
func capabilities(sec runtime.SecurityConfig) ([]string, error) {
	if sec.Privileged {
		return ownCaps(), nil
	}
	known := map[string]bool{}
	for _, c := range allCaps {
		known[c] = true
	}
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	for _, c := range sec.CapDrop {
		c = normalizeCap(c)
		if c == "ALL" {
			clear(set)
			continue
		}
		if !known[c] {
			return nil, fmt.Errorf("%w: unknown capability %q", ErrInvalid, c)
		}
		delete(set, c)
	}
	for _, c := range sec.CapAdd {
		c = normalizeCap(c)
		if c == "ALL" {
			for _, a := range allCaps {
				set[a] = true
			}
			continue
		}
		if !known[c] {
			return nil, fmt.Errorf("%w: unknown capability %q", ErrInvalid, c)
		}
		set[c] = true
	}
	// Keep allCaps' order so that specs are stable.
	var out []string
	for _, c := range allCaps {
		if set[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// ownCaps is allCaps limited to this process's bounding set: a container
// cannot get what its runtime lacks (as containerd does for privileged).
func ownCaps() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for line := range strings.Lines(string(b)) {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil
		}
		var out []string
		for i, c := range allCaps {
			if mask&(1<<i) != 0 {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

// resolveUser picks uid, gid and supplementary groups from the security
// context, else from the image's USER looked up in the rootfs' passwd and
// group files (read without following links out of the rootfs).
func resolveUser(rootfs string, cfg runtime.ContainerConfig) (uid, gid int, groups []uint32, err error) {
	passwd, err := securejoin.SecureJoin(rootfs, "/etc/passwd")
	if err != nil {
		return 0, 0, nil, err
	}
	group, err := securejoin.SecureJoin(rootfs, "/etc/group")
	if err != nil {
		return 0, 0, nil, err
	}
	spec := cfg.User
	sec := cfg.Security
	if sec.RunAsUser != nil {
		if *sec.RunAsUser < 0 {
			return 0, 0, nil, fmt.Errorf("%w: negative runAsUser", ErrInvalid)
		}
		spec = fmt.Sprint(*sec.RunAsUser)
	}
	if sec.RunAsGroup != nil {
		if *sec.RunAsGroup < 0 {
			return 0, 0, nil, fmt.Errorf("%w: negative runAsGroup", ErrInvalid)
		}
		u, _, _ := strings.Cut(spec, ":")
		spec = fmt.Sprintf("%s:%d", u, *sec.RunAsGroup)
	}
	eu, err := user.GetExecUserPath(spec, &user.ExecUser{}, passwd, group)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%w: user %q: %v", ErrInvalid, spec, err)
	}
	seen := map[int64]bool{}
	add := func(g int64) {
		if !seen[g] && g != int64(eu.Gid) {
			seen[g] = true
			groups = append(groups, uint32(g))
		}
	}
	for _, g := range eu.Sgids {
		add(int64(g))
	}
	for _, g := range sec.SupplementalGroups {
		if g < 0 {
			return 0, 0, nil, fmt.Errorf("%w: negative supplemental group", ErrInvalid)
		}
		add(g)
	}
	return eu.Uid, eu.Gid, groups, nil
}

// memswAccounted tells whether the v1 memory cgroup can limit swap.
func memswAccounted() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}
