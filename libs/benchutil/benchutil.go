// Package benchutil holds what the daemons' benchmarks share: building a
// daemon binary, free ports, concurrent clients and reading a process's CPU
// time and memory from /proc.
package benchutil

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GoBuild builds the main package pkg (e.g. drover.dev/apiserver) into dir
// as drover-<last path element> and returns the binary's path.
func GoBuild(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, "drover-"+filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v: %s", pkg, err, out)
	}
	return bin, nil
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Parallel runs fn(i) for every i in [0, n) on workers goroutines and
// returns the first error; the others stop at their next call.
func Parallel(workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// clkTck is USER_HZ, the unit of /proc/<pid>/stat times on Linux.
const clkTck = 100

// CPUSeconds is the user+system CPU time process pid has used.
func CPUSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) end with ')'.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clkTck, nil
}

// StatusKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func StatusKB(pid int, field string) (int, error) {
	return procKB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// PssKB reads a process's proportional set size: its private pages plus
// its share of the pages it shares (a binary's code mapped by several
// processes counts once in the sum over them, unlike RSS).
func PssKB(pid int) (int, error) {
	return procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
}

func procKB(path, field string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.Fields(v)[0])
			return n, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}
