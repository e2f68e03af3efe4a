package pidfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestAcquireHoldRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.pid")
	f, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("file = %q, %v; want our pid", data, err)
	}
	// flock conflicts between open file descriptions, so a second Acquire in
	// the same process behaves like one in another process.
	if _, err := Acquire(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire = %v, want ErrLocked", err)
	}
	if pid, err := Holder(path); err != nil || pid != os.Getpid() {
		t.Fatalf("Holder = %d, %v; want %d", pid, err, os.Getpid())
	}

	if err := f.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file still exists after Release: %v", err)
	}
	if pid, err := Holder(path); err != nil || pid != 0 {
		t.Errorf("Holder after Release = %d, %v; want 0", pid, err)
	}
	f, err = Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	f.Release()
}

func TestStaleFileIsNotAHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drover.pid")
	// Left by a drover that was killed: a pid, but no lock.
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := Holder(path); err != nil || pid != 0 {
		t.Fatalf("Holder = %d, %v; want 0 for a stale file", pid, err)
	}
	f, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire over a stale file: %v", err)
	}
	defer f.Release()
	data, _ := os.ReadFile(path)
	if string(data) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("file = %q, want our pid only", data)
	}
}
