package framework

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ChildPIDs returns the pids of the live processes whose parent is ppid and whose
// command name (as in /proc/<pid>/comm, at most 15 bytes) starts with comm.
func ChildPIDs(ppid int, comm string) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parentheses.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		parent, err := strconv.Atoi(fields[1])
		if err != nil || parent != ppid {
			continue
		}
		name := s[open+1 : end]
		if len(comm) > 15 {
			comm = comm[:15]
		}
		if !strings.HasPrefix(name, comm) {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(s[:open])); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// APIServerPIDs returns the pids of the apiservers `drover up` runs as its children.
func (c *Cluster) APIServerPIDs() []int {
	return ChildPIDs(c.Drover.Pid(), BinAPIServer)
}
