package image

import (
	"context"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"drover.dev/libs/testimages"
)

// BenchmarkPullBusybox pulls busybox from an in-process registry into an
// empty store: download, digest checks, unpack, syncfs, index write.
func BenchmarkPullBusybox(b *testing.B) {
	ctx := context.Background()
	addr, stop, err := testimages.StartRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	img := busybox(b)
	if err := testimages.Push(ctx, addr+"/bb:1", img); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := New(filepath.Join(b.TempDir(), "images"), Options{Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.PullImage(ctx, addr+"/bb:1", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullPresent re-pulls an image whose layers are all present:
// what imagePullPolicy Always costs per container start.
func BenchmarkPullPresent(b *testing.B) {
	ctx := context.Background()
	addr, stop, err := testimages.StartRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	if err := testimages.Push(ctx, addr+"/bb:1", busybox(b)); err != nil {
		b.Fatal(err)
	}
	s, err := New(filepath.Join(b.TempDir(), "images"), Options{Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.PullImage(ctx, addr+"/bb:1", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLayerDirs is the store's share of every container creation.
func BenchmarkLayerDirs(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bb.tar")
	if err := testimages.WriteOCIArchive(path, "example.com/bb:1", busybox(b)); err != nil {
		b.Fatal(err)
	}
	s, err := New(filepath.Join(b.TempDir(), "images"), Options{Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	imgs, err := s.ImportArchive(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.ImageStatus(ctx, "example.com/bb:1"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.LayerDirs(imgs[0].ID); err != nil {
			b.Fatal(err)
		}
	}
}
