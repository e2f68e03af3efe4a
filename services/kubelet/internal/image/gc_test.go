package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size MiB so that images fill it for real.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%dm,mode=0755", size)); err != nil {
		t.Fatalf("mount tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestGarbageCollect(t *testing.T) {
	ctx := context.Background()
	addr := startRegistry(t)
	base := busybox(t)
	push(t, addr+"/bb:1", base)
	var apps []string
	for i := range 4 {
		ref := fmt.Sprintf("%s/app%d:1", addr, i)
		push(t, ref, withLayer(t, base, "data", 4<<20, int64(100+i)))
		apps = append(apps, ref)
	}
	s, err := New(filepath.Join(smallFS(t, 32), "images"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[string]string{}
	for _, ref := range append([]string{addr + "/bb:1"}, apps...) {
		img, err := s.PullImage(ctx, ref, nil)
		if err != nil {
			t.Fatal(err)
		}
		idOf[ref] = img.ID
	}
	// Least recently used first: bb (pulled first), app1, app0, app2, app3.
	for _, i := range []int{1, 0, 2, 3} {
		if _, err := s.LayerDirs(idOf[apps[i]]); err != nil {
			t.Fatal(err)
		}
	}
	before, err := diskUsagePercent(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if before < 50 {
		t.Fatalf("setup: only %d%% used, want >= 50", before)
	}
	inUse := map[string]bool{idOf[apps[1]]: true}

	// Under the high threshold: nothing happens.
	if err := s.GarbageCollect(ctx, inUse, before, 10); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListImages(ctx); len(list) != 5 {
		t.Fatalf("%d images after a GC below threshold, want 5", len(list))
	}

	low := before - 20
	if err := s.GarbageCollect(ctx, inUse, before-1, low); err != nil {
		t.Fatal(err)
	}
	after, _ := diskUsagePercent(s.Root())
	if after > low {
		t.Errorf("%d%% used after GC, want <= %d%%", after, low)
	}
	order := []string{addr + "/bb:1", apps[0], apps[2], apps[3]} // unused, LRU first
	var removed []string
	for _, ref := range order {
		if _, err := s.ImageStatus(ctx, idOf[ref]); err != nil {
			removed = append(removed, ref)
		}
	}
	t.Logf("used %d%% → %d%%, removed %v", before, after, removed)
	if len(removed) < 2 || !slices.Equal(removed, order[:len(removed)]) {
		t.Errorf("removed %v, want a least-recently-used prefix of %v", removed, order)
	}
	if _, err := s.ImageStatus(ctx, idOf[apps[1]]); err != nil {
		t.Errorf("in-use image removed: %v", err)
	}
	dirs, err := s.LayerDirs(idOf[apps[1]])
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs { // including the busybox layer bb:1 shared
		if _, err := os.Stat(d); err != nil {
			t.Errorf("layer of the in-use image gone: %v", err)
		}
	}
	layers, _ := os.ReadDir(filepath.Join(s.Root(), "layers", "sha256"))
	if want := 1 + 4 - (len(removed) - 1); len(layers) != want {
		t.Errorf("%d layer dirs left, want %d", len(layers), want)
	}

	// Everything left is in use: GC reports it could not reach the target.
	all := map[string]bool{}
	list, _ := s.ListImages(ctx)
	for _, img := range list {
		all[img.ID] = true
	}
	if err := s.GarbageCollect(ctx, all, 0, 0); !errors.Is(err, ErrDiskUsage) {
		t.Errorf("err = %v, want ErrDiskUsage", err)
	}
	if err := s.GarbageCollect(ctx, nil, 50, 60); err == nil {
		t.Error("low > high accepted")
	}
}
