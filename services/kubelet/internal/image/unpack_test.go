package image

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"drover.dev/libs/testimages"
)

type F = testimages.File

// unpackFiles builds a layer from files and unpacks it into a fresh dir.
func unpackFiles(t *testing.T, dir string, files []F) error {
	t.Helper()
	l, err := testimages.LayerFromFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = unpack(context.Background(), rc, dir, zap.NewNop())
	return err
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

func TestUnpackEntryTypes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	err := unpackFiles(t, dir, []F{
		{Name: "./", Mode: 0o755},
		{Name: "usr/bin/", Mode: 0o755},
		{Name: "usr/bin/su", Mode: 0o4755, Data: []byte("suid"), UID: 0, GID: 0},
		{Name: "home/app/data", Mode: 0o640, Data: []byte("hello"), UID: 1000, GID: 2000},
		{Name: "home/app/link", Linkname: "data", Mode: 0o777},
		{Name: "home/app/hard", Linkname: "home/app/data", Hardlink: true},
		{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
		{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666},
		{Name: "etc/capped", Mode: 0o755, Data: []byte("x"), Xattrs: map[string]string{"trusted.drover": "yes"}},
		// A later entry replaces an earlier one, even a symlink.
		{Name: "etc/replaced", Linkname: "/etc/passwd"},
		{Name: "etc/replaced", Mode: 0o600, Data: []byte("file now")},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(dir, "usr/bin/su"))
	if st.Mode&0o7777 != 0o4755 {
		t.Errorf("su mode %o, want 4755", st.Mode&0o7777)
	}
	st = lstat(t, filepath.Join(dir, "home/app/data"))
	if st.Uid != 1000 || st.Gid != 2000 || st.Mode&0o777 != 0o640 {
		t.Errorf("data uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o777)
	}
	hard := lstat(t, filepath.Join(dir, "home/app/hard"))
	if hard.Ino != st.Ino || hard.Nlink != 2 {
		t.Errorf("hardlink ino %d nlink %d, want ino %d nlink 2", hard.Ino, hard.Nlink, st.Ino)
	}
	if target, err := os.Readlink(filepath.Join(dir, "home/app/link")); err != nil || target != "data" {
		t.Errorf("symlink: %q %v", target, err)
	}
	if st := lstat(t, filepath.Join(dir, "run/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo mode %o", st.Mode)
	}
	if st := lstat(t, filepath.Join(dir, "dev/null")); st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("char dev mode %o", st.Mode)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "etc/capped"), "trusted.drover", buf); err != nil || string(buf[:n]) != "yes" {
		t.Errorf("xattr: %q %v", buf[:n], err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/replaced")); err != nil || string(b) != "file now" {
		t.Errorf("replaced: %q %v", b, err)
	}
	// Implicit parents ("home/", "run/") are created 0755.
	if st := lstat(t, filepath.Join(dir, "home")); st.Mode&0o777 != 0o755 {
		t.Errorf("implicit dir mode %o", st.Mode&0o777)
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	err := unpackFiles(t, dir, []F{
		{Name: "etc/", Mode: 0o755},
		{Name: "etc/.wh.motd"},
		{Name: "var/cache/", Mode: 0o755},
		{Name: "var/cache/.wh..wh..opq"},
		{Name: "var/cache/fresh", Mode: 0o644, Data: []byte("new")},
		{Name: ".wh..wh.plnk/", Mode: 0o700}, // AUFS metadata: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(dir, "etc/motd"))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d, want char device 0/0", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/.wh.motd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".wh. file itself written: %v", err)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(dir, "var/cache"), opaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "var/cache/.wh..wh..opq")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opaque marker written as a file: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".wh..wh.plnk")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("aufs metadata written: %v", err)
	}
}

// TestUnpackWhiteoutsOverlay mounts two unpacked layers with overlayfs and
// checks that the kernel hides what the upper one's whiteouts remove.
func TestUnpackWhiteoutsOverlay(t *testing.T) {
	tmp := t.TempDir()
	lower, upper := filepath.Join(tmp, "l1"), filepath.Join(tmp, "l2")
	if err := unpackFiles(t, lower, []F{
		{Name: "etc/motd", Mode: 0o644, Data: []byte("hi")},
		{Name: "etc/keep", Mode: 0o644, Data: []byte("keep")},
		{Name: "cache/old", Mode: 0o644, Data: []byte("old")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := unpackFiles(t, upper, []F{
		{Name: "etc/.wh.motd"},
		{Name: "cache/.wh..wh..opq"},
		{Name: "cache/new", Mode: 0o644, Data: []byte("new")},
	}); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	// Read-only overlay of lowers only: top layer first in lowerdir=.
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+upper+":"+lower); err != nil {
		t.Fatalf("mount overlay (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	if _, err := os.Stat(filepath.Join(mnt, "etc/motd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etc/motd visible through whiteout: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "etc/keep")); err != nil || string(b) != "keep" {
		t.Errorf("etc/keep: %q %v", b, err)
	}
	entries, err := os.ReadDir(filepath.Join(mnt, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "new" {
		t.Errorf("opaque cache/ shows %v, want [new]", names)
	}
}

func TestUnpackFollowsSymlinksInside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fs")
	err := unpackFiles(t, dir, []F{
		{Name: "usr/lib/", Mode: 0o755},
		{Name: "lib", Linkname: "usr/lib"},
		{Name: "lib/libc.so", Mode: 0o644, Data: []byte("c")},
		{Name: "usr/lib64", Linkname: "../usr/lib"},
		{Name: "usr/lib64/libm.so", Mode: 0o644, Data: []byte("m")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"usr/lib/libc.so", "usr/lib/libm.so"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestUnpackRefusesTraversal(t *testing.T) {
	tests := []struct {
		name  string
		files []F
	}{
		{"dotdot name", []F{{Name: "../escaped", Mode: 0o644, Data: []byte("x")}}},
		{"dotdot inside name", []F{{Name: "a/../../escaped", Mode: 0o644, Data: []byte("x")}}},
		{"absolute symlink parent", []F{
			{Name: "evil", Linkname: "OUTSIDE"},
			{Name: "evil/escaped", Mode: 0o644, Data: []byte("x")},
		}},
		{"relative symlink climbing out", []F{
			{Name: "a/up", Linkname: "../../.."},
			{Name: "a/up/escaped", Mode: 0o644, Data: []byte("x")},
		}},
		{"symlink chain climbing out", []F{
			{Name: "one", Linkname: "two"},
			{Name: "two", Linkname: ".."},
			{Name: "one/escaped", Mode: 0o644, Data: []byte("x")},
		}},
		{"hardlink out", []F{{Name: "h", Linkname: "../escaped-src", Hardlink: true}}},
		{"hardlink through absolute symlink", []F{
			{Name: "evil", Linkname: "OUTSIDE"},
			{Name: "h", Linkname: "evil/escaped-src", Hardlink: true},
		}},
		{"whiteout of parent", []F{{Name: "a/.wh..."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(base, "escaped-src"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i := range tt.files {
				tt.files[i].Linkname = strings.ReplaceAll(tt.files[i].Linkname, "OUTSIDE", outside)
			}
			// fs is two levels below base so that "../.." from a/ lands in base.
			dir := filepath.Join(base, "layer", "fs")
			err := unpackFiles(t, dir, tt.files)
			if !errors.Is(err, ErrUnsafeLayer) {
				t.Fatalf("err = %v, want ErrUnsafeLayer", err)
			}
			for _, p := range []string{filepath.Join(base, "escaped"), filepath.Join(base, "layer", "escaped"), filepath.Join(outside, "escaped")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

func TestUnpackDigestMismatch(t *testing.T) {
	s := newStore(t, Options{})
	l, err := testimages.LayerFromFiles([]F{{Name: "a", Mode: 0o644, Data: []byte("a")}})
	if err != nil {
		t.Fatal(err)
	}
	wrong := "sha256:" + strings.Repeat("ab", 32)
	if _, err := s.ensureLayer(context.Background(), l, wrong); err == nil || !strings.Contains(err.Error(), "content digest") {
		t.Fatalf("err = %v, want digest mismatch", err)
	}
	if _, err := os.Stat(s.layerPath(wrong)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("layer with wrong content published: %v", err)
	}
	if entries, _ := os.ReadDir(s.tmpDir()); len(entries) != 0 {
		t.Errorf("tmp not cleaned: %v", entries)
	}
}

// TestBusyboxRunsFromLayer runs the unpacked busybox image in a chroot: the
// layer is a usable root filesystem (applet symlinks, permissions, /tmp).
func TestBusyboxRunsFromLayer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bb.tar")
	if err := testimages.WriteDockerArchive(path, "example.com/bb:1", busybox(t)); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Options{})
	imgs, err := s.ImportArchive(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.LayerDirs(imgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo hi > /tmp/x && cat /tmp/x && id -u nobody && ls /bin | wc -l")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dirs[0]}
	cmd.Dir = "/"
	cmd.Env = imgs[0].Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh in the layer: %v: %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 3 || lines[0] != "hi" || lines[1] != "65534" || len(lines[2]) < 3 { // >= 100 applets
		t.Errorf("output %q", out)
	}
}
