package runc

import (
	"errors"
	goruntime "runtime"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// x32Enabled reports whether the kernel runs x32 syscalls (x86_64 syscall
// numbers with bit 30 set). Most distribution kernels build the ABI but
// leave it off (syscall.x32=n), and then it answers ENOSYS.
var x32Enabled = sync.OnceValue(func() bool {
	if goruntime.GOARCH != "amd64" {
		return false
	}
	const x32Bit = 0x40000000
	_, _, errno := unix.RawSyscall(x32Bit|unix.SYS_GETPID, 0, 0, 0)
	return !errors.Is(errno, unix.ENOSYS)
})

// trimSeccompArches drops SCMP_ARCH_X32 from a profile when the kernel has
// no x32 ABI. Docker's profile lists it beside x86_64 and x86, and
// compiling its rules a third time is a third of what libseccomp spends in
// every `runc init` (about 8 ms of CPU per container here). Without it
// nothing the kernel can run is judged differently: x32 calls, which the
// kernel would refuse with ENOSYS anyway, meet the filter's bad-arch action
// instead of the profile's errno.
func trimSeccompArches(sc *specs.LinuxSeccomp) {
	if sc == nil || x32Enabled() {
		return
	}
	sc.Architectures = slices.DeleteFunc(sc.Architectures, func(a specs.Arch) bool { return a == specs.ArchX32 })
}
