package node

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Eviction-style thresholds for the pressure conditions, Kubernetes' defaults.
const (
	memoryAvailableMin = 100 << 20 // 100Mi
	diskAvailablePct   = 10
	pidAvailablePct    = 10
)

// Machine reads the node's resources. Zero fields are read from the
// machine; set ones (hollow nodes) are reported as they are.
type Machine struct {
	// RootDir is the filesystem ephemeral storage is measured on.
	RootDir string
	CPU     *resource.Quantity
	Memory  *resource.Quantity
	Storage *resource.Quantity
}

// Pressure says which resources run short.
type Pressure struct{ Memory, Disk, PID bool }

// Capacity is what the node has.
func (m *Machine) Capacity(maxPods int) (v1.ResourceList, error) {
	out := v1.ResourceList{v1.ResourcePods: *resource.NewQuantity(int64(maxPods), resource.DecimalSI)}
	if m.CPU != nil {
		out[v1.ResourceCPU] = *m.CPU
	} else {
		out[v1.ResourceCPU] = *resource.NewQuantity(int64(cpuCount()), resource.DecimalSI)
	}
	if m.Memory != nil {
		out[v1.ResourceMemory] = *m.Memory
	} else {
		total, _ := meminfo()
		out[v1.ResourceMemory] = *resource.NewQuantity(total, resource.BinarySI)
	}
	if m.Storage != nil {
		out[v1.ResourceEphemeralStorage] = *m.Storage
	} else if total, _, ok := m.disk(); ok {
		out[v1.ResourceEphemeralStorage] = *resource.NewQuantity(total, resource.BinarySI)
	}
	return out, nil
}

// cpuCount is the CPUs this process may use (cpuset aware).
func cpuCount() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return set.Count()
	}
	return goruntime.NumCPU()
}

// meminfo returns MemTotal and MemAvailable in bytes.
func meminfo() (total, available int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "MemTotal:":
			total = kb << 10
		case "MemAvailable:":
			available = kb << 10
		}
	}
	return total, available
}

func (m *Machine) disk() (total, avail int64, ok bool) {
	dir := m.RootDir
	if dir == "" {
		dir = "/"
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, true
}

// Pressure compares what is left with Kubernetes' default hard eviction
// thresholds. Hollow nodes (fixed resources) never report pressure.
func (m *Machine) Pressure() Pressure {
	if m.Memory != nil {
		return Pressure{}
	}
	var p Pressure
	if _, avail := meminfo(); avail > 0 && avail < memoryAvailableMin {
		p.Memory = true
	}
	if total, avail, ok := m.disk(); ok && total > 0 && avail*100/total < diskAvailablePct {
		p.Disk = true
	}
	if max := readInt("/proc/sys/kernel/pid_max"); max > 0 {
		var si unix.Sysinfo_t
		if unix.Sysinfo(&si) == nil && (max-int64(si.Procs))*100/max < pidAvailablePct {
			p.PID = true
		}
	}
	return p
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// Labels are the well-known node labels.
func (m *Machine) Labels(name string) map[string]string {
	return map[string]string{
		v1.LabelHostname:   name,
		v1.LabelOSStable:   goruntime.GOOS,
		v1.LabelArchStable: goruntime.GOARCH,
	}
}

// Info is the node's system info (IDs are added by withIDs).
func (m *Machine) Info() v1.NodeSystemInfo {
	info := v1.NodeSystemInfo{OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	info.OSImage = osImage()
	return info
}

func (m *Machine) withIDs(info v1.NodeSystemInfo) v1.NodeSystemInfo {
	info.MachineID = strings.TrimSpace(readFile("/etc/machine-id"))
	info.SystemUUID = strings.TrimSpace(readFile("/sys/class/dmi/id/product_uuid"))
	info.BootID = strings.TrimSpace(readFile("/proc/sys/kernel/random/boot_id"))
	return info
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// osImage is PRETTY_NAME from os-release.
func osImage() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}
