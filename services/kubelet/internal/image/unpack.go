package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// OCI whiteout names (image-spec layer.md) and their overlayfs forms.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	// maxSymlinks bounds symlink resolution, as the kernel's MAXSYMLINKS.
	maxSymlinks = 40
)

// unpack extracts the layer tar read from r into dir, an empty directory
// that will serve as an overlayfs lower layer: whiteouts become 0/0
// character devices, opaque markers the trusted.overlay.opaque xattr.
// Entries that would write outside dir — ".." in names, or a path through a
// symlink that is absolute or climbs out — are refused with ErrUnsafeLayer.
// It returns the bytes of regular files written.
func unpack(ctx context.Context, r io.Reader, dir string, lg *zap.Logger) (int64, error) {
	type dirTimes struct {
		path  string
		mtime time.Time
	}
	var (
		size int64
		dirs []dirTimes
	)
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read tar: %w", err)
		}
		rel, err := entryPath(hdr.Name)
		if err != nil {
			return 0, err
		}
		if rel == "" { // the layer's root directory itself
			if hdr.Typeflag == tar.TypeDir {
				if err := applyAttrs(filepath.Join(dir, "."), hdr, lg); err != nil {
					return 0, err
				}
				dirs = append(dirs, dirTimes{dir, hdr.ModTime})
			}
			continue
		}
		parentRel, base := path.Dir(rel), path.Base(rel)
		if parentRel == "." {
			parentRel = ""
		}
		parent, err := resolveDir(dir, parentRel, true)
		if err != nil {
			return 0, fmt.Errorf("%w: %q: %v", ErrUnsafeLayer, hdr.Name, err)
		}
		parentPath := filepath.Join(dir, parent)

		switch {
		case base == whiteoutOpaque:
			if err := unix.Lsetxattr(parentPath, opaqueXattr, []byte("y"), 0); err != nil {
				return 0, fmt.Errorf("opaque dir %q: %w", parentRel, err)
			}
			continue
		case strings.HasPrefix(base, whiteoutMeta):
			continue // other AUFS metadata (.wh..wh.plnk, ...) means nothing to overlayfs
		case strings.HasPrefix(base, whiteoutPrefix):
			hidden := strings.TrimPrefix(base, whiteoutPrefix)
			if hidden == "" || hidden == "." || hidden == ".." {
				return 0, fmt.Errorf("%w: bad whiteout %q", ErrUnsafeLayer, hdr.Name)
			}
			target := filepath.Join(parentPath, hidden)
			if err := os.RemoveAll(target); err != nil {
				return 0, fmt.Errorf("whiteout %q: %w", hdr.Name, err)
			}
			if err := unix.Mknod(target, unix.S_IFCHR, 0); err != nil {
				return 0, fmt.Errorf("whiteout %q: %w", hdr.Name, err)
			}
			continue
		}

		target := filepath.Join(parentPath, base)
		if fi, err := os.Lstat(target); err == nil {
			// A later entry replaces an earlier one; only directories merge.
			if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
				if err := os.RemoveAll(target); err != nil {
					return 0, fmt.Errorf("replace %q: %w", hdr.Name, err)
				}
			}
		}

		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return 0, fmt.Errorf("mkdir %q: %w", hdr.Name, err)
			}
			dirs = append(dirs, dirTimes{target, hdr.ModTime})
		case tar.TypeReg: // tar.Reader reports old TypeRegA entries as TypeReg
			n, err := writeFile(target, tr)
			if err != nil {
				return 0, fmt.Errorf("file %q: %w", hdr.Name, err)
			}
			size += n
		case tar.TypeSymlink:
			// The link's text is data; it only matters if a later entry is
			// written through it, which resolveDir checks.
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return 0, fmt.Errorf("symlink %q: %w", hdr.Name, err)
			}
		case tar.TypeLink:
			src, err := hardlinkSource(dir, hdr.Linkname)
			if err != nil {
				return 0, fmt.Errorf("%w: hardlink %q → %q: %v", ErrUnsafeLayer, hdr.Name, hdr.Linkname, err)
			}
			if err := os.Link(src, target); err != nil {
				return 0, fmt.Errorf("hardlink %q: %w", hdr.Name, err)
			}
			continue // shares the inode: attributes are the source's
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			mode := uint32(unix.S_IFIFO)
			switch hdr.Typeflag {
			case tar.TypeChar:
				mode = unix.S_IFCHR
			case tar.TypeBlock:
				mode = unix.S_IFBLK
			}
			dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
			if err := unix.Mknod(target, mode|uint32(hdr.Mode&0o7777), int(dev)); err != nil {
				return 0, fmt.Errorf("mknod %q: %w", hdr.Name, err)
			}
		case tar.TypeXGlobalHeader:
			continue
		default:
			lg.Debug("skipping unsupported tar entry", zap.String("name", hdr.Name), zap.Int("type", int(hdr.Typeflag)))
			continue
		}
		if err := applyAttrs(target, hdr, lg); err != nil {
			return 0, err
		}
	}
	// Directory times last: creating their children changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(dirs[i].mtime.UnixNano()), unix.NsecToTimespec(dirs[i].mtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, fmt.Errorf("times %q: %w", dirs[i].path, err)
		}
	}
	return size, nil
}

// entryPath validates a tar entry name and returns it relative to the layer
// root ("" for the root); any ".." component is refused.
func entryPath(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: %q has a .. component", ErrUnsafeLayer, name)
		}
	}
	if strings.ContainsRune(n, 0) {
		return "", fmt.Errorf("%w: %q has a NUL byte", ErrUnsafeLayer, name)
	}
	c := path.Clean("/" + n)
	return strings.TrimPrefix(c, "/"), nil
}

// resolveDir resolves rel (relative to root, no ".." components) to a path
// without symlinks inside root, following relative symlinks that stay
// inside and creating missing directories when create is set. A symlink
// that is absolute or leads above root is refused: writing through it would
// land outside the layer on a naive extraction, and no sane layer needs it.
func resolveDir(root, rel string, create bool) (string, error) {
	pending := splitPath(rel)
	resolved := ""
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		if c == "." || c == "" {
			continue
		}
		if c == ".." {
			if resolved == "" {
				return "", errors.New("path leads above the layer root")
			}
			resolved = parentOf(resolved)
			continue
		}
		next := path.Join(resolved, c)
		full := filepath.Join(root, next)
		fi, err := os.Lstat(full)
		switch {
		case errors.Is(err, os.ErrNotExist) && create:
			if err := os.Mkdir(full, 0o755); err != nil {
				return "", err
			}
			resolved = next
		case err != nil:
			return "", err
		case fi.Mode()&os.ModeSymlink != 0:
			links++
			if links > maxSymlinks {
				return "", errors.New("too many levels of symlinks")
			}
			target, err := os.Readlink(full)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				return "", fmt.Errorf("goes through absolute symlink %q → %q", next, target)
			}
			pending = append(splitPath(target), pending...)
		case fi.IsDir():
			resolved = next
		default:
			return "", fmt.Errorf("%q is not a directory", next)
		}
	}
	return resolved, nil
}

// hardlinkSource resolves a hardlink's target, which must be an existing
// non-directory entry of this layer.
func hardlinkSource(root, linkname string) (string, error) {
	rel, err := entryPath(linkname)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", errors.New("target is the layer root")
	}
	parent, err := resolveDir(root, parentOf(rel), false)
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, parent, path.Base(rel))
	fi, err := os.Lstat(src)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", errors.New("target is a directory")
	}
	return src, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

func parentOf(rel string) string {
	d := path.Dir(rel)
	if d == "." || d == "/" {
		return ""
	}
	return d
}

func writeFile(target string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// applyAttrs sets owner, mode (chown first: it clears setuid), xattrs and
// mtime on an entry that is not a hardlink.
func applyAttrs(p string, hdr *tar.Header, lg *zap.Logger) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown %q: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, p, uint32(hdr.Mode&0o7777), 0); err != nil {
			return fmt.Errorf("chmod %q: %w", hdr.Name, err)
		}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(p, attr, []byte(v), 0); err != nil {
			// Some filesystems refuse some namespaces; the file is still usable.
			lg.Debug("cannot set xattr", zap.String("name", hdr.Name), zap.String("xattr", attr), zap.Error(err))
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		mt := unix.NsecToTimespec(hdr.ModTime.UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{mt, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("times %q: %w", hdr.Name, err)
		}
	}
	return nil
}
