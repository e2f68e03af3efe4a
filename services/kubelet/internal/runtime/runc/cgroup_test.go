package runc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// A pod cgroup with a leftover container cgroup that still holds a
// process is removed whole: the process is killed, the child goes first.
func TestRemoveCgroupTreeWithLeftovers(t *testing.T) {
	root := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup/unified"
	}
	pod := filepath.Join(root, "drover-test-"+strconv.Itoa(os.Getpid()), "podx")
	child := filepath.Join(pod, "container")
	if err := os.MkdirAll(child, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeCgroupTree(filepath.Dir(pod)) })
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleep.Wait() }()
	if err := os.WriteFile(filepath.Join(child, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeCgroupTree(pod); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pod); !os.IsNotExist(err) {
		t.Fatalf("%s still exists", pod)
	}
	if err := <-done; err == nil {
		t.Fatal("the process in the leftover cgroup was not killed")
	}
	if err := removeCgroupTree(pod); err != nil {
		t.Fatalf("removing again: %v", err)
	}
}
