package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"drover.dev/libs/testimages"
)

func TestImportOCIArchive(t *testing.T) {
	ctx := context.Background()
	img := busybox(t)
	id, manifest := ids(t, img)
	path := filepath.Join(t.TempDir(), "bb.oci.tar")
	if err := testimages.WriteOCIArchive(path, "example.com/tools/busybox:1.35", img); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Options{})
	got, err := s.ImportArchive(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id ||
		!slices.Equal(got[0].RepoTags, []string{"example.com/tools/busybox:1.35"}) ||
		!slices.Equal(got[0].RepoDigests, []string{"example.com/tools/busybox@" + manifest}) {
		t.Fatalf("imported %+v", got)
	}
	if _, err := s.ImageStatus(ctx, "example.com/tools/busybox:1.35"); err != nil {
		t.Error(err)
	}
	dirs, err := s.LayerDirs(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "bin", "busybox")); err != nil {
		t.Error(err)
	}
}

// TestImportOCIArchiveRefNames: an index.json naming the image only by tag
// (org.opencontainers.image.ref.name=latest, as skopeo writes) imports it by
// ID; one with a full reference there uses it.
func TestImportOCIArchiveRefNames(t *testing.T) {
	ctx := context.Background()
	img := busybox(t)
	id, _ := ids(t, img)
	tests := []struct {
		refName string
		want    []string
	}{
		{"latest", nil},
		{"registry.local/bb:2", []string{"registry.local/bb:2"}},
		{"busybox:3", []string{"docker.io/library/busybox:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.refName, func(t *testing.T) {
			dir := t.TempDir()
			lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: tt.refName})); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(dir, "a.tar")
			tarTree(t, filepath.Join(dir, "layout"), archive)
			s := newStore(t, Options{})
			got, err := s.ImportArchive(ctx, archive)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].ID != id || !slices.Equal(got[0].RepoTags, tt.want) {
				t.Errorf("got %s %v, want %s %v", got[0].ID, got[0].RepoTags, id, tt.want)
			}
		})
	}
}

func TestImportDockerArchive(t *testing.T) {
	ctx := context.Background()
	img := withLayer(t, busybox(t), "srv/index.html", 64, 9)
	id, _ := ids(t, img)
	path := filepath.Join(t.TempDir(), "app.docker.tar")
	if err := testimages.WriteDockerArchive(path, "example.com/app:v1", img); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Options{})
	got, err := s.ImportArchive(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || !slices.Equal(got[0].RepoTags, []string{"example.com/app:v1"}) {
		t.Fatalf("imported %+v", got)
	}
	dirs, err := s.LayerDirs("example.com/app:v1")
	if err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs: %v %v", dirs, err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[1], "srv", "index.html")); err != nil || len(b) != 64 {
		t.Errorf("top layer file: %d bytes, %v", len(b), err)
	}
}

func TestImportBadArchive(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "junk.tar")
	if err := os.WriteFile(notTar, []byte(strings.Repeat("junk", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyTree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(emptyTree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(emptyTree, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherTar := filepath.Join(dir, "other.tar")
	tarTree(t, emptyTree, otherTar)
	s := newStore(t, Options{})
	for _, p := range []string{notTar, otherTar} {
		if _, err := s.ImportArchive(context.Background(), p); !errors.Is(err, ErrBadArchive) {
			t.Errorf("%s: err = %v, want ErrBadArchive", filepath.Base(p), err)
		}
	}
	if _, err := s.ImportArchive(context.Background(), filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("missing archive imported")
	}
}

func TestWatchImportDir(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newStore(t, Options{ImportPollInterval: 50 * time.Millisecond})
	dir := filepath.Join(t.TempDir(), "import")
	done := make(chan error, 1)
	go func() { done <- s.WatchImportDir(ctx, dir) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually(t, 5*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "failed")); return err == nil })

	img := busybox(t)
	if err := testimages.WriteOCIArchive(filepath.Join(dir, "bb.tar"), "example.com/bb:dropped", img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.tar"), []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		_, err := s.ImageStatus(ctx, "example.com/bb:dropped")
		return err == nil
	})
	eventually(t, 5*time.Second, func() bool {
		_, e1 := os.Stat(filepath.Join(dir, "imported", "bb.tar"))
		_, e2 := os.Stat(filepath.Join(dir, "failed", "broken.tar.error"))
		return e1 == nil && e2 == nil
	})
	for _, f := range []string{"bb.tar", "broken.tar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the import dir: %v", f, err)
		}
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "failed", "broken.tar.error"))
	if !strings.Contains(string(msg), "bad image archive") {
		t.Errorf("error file says %q", msg)
	}
}
