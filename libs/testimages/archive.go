package testimages

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations an OCI layout's index.json uses to name its images: the OCI
// one holds the tag only (as buildkit writes it), containerd's the full name.
const (
	AnnotationRefName       = "org.opencontainers.image.ref.name"
	AnnotationContainerName = "io.containerd.image.name"
)

// WriteOCIArchive writes img as an OCI image layout packed in a tar file at
// path. ref ("registry/repo:tag") names it in index.json: the tag in
// org.opencontainers.image.ref.name and the full reference in
// io.containerd.image.name, as `ctr export` and buildkit do.
func WriteOCIArchive(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("testimages: oci archive ref %q: %w", ref, err)
	}
	dir, err := os.MkdirTemp("", "oci-layout-")
	if err != nil {
		return fmt.Errorf("testimages: oci archive: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("testimages: oci layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		AnnotationRefName:       tag.TagStr(),
		AnnotationContainerName: tag.Name(),
	})); err != nil {
		return fmt.Errorf("testimages: oci layout: %w", err)
	}
	return tarDir(path, dir)
}

// WriteDockerArchive writes img as a `docker save` tarball tagged ref.
func WriteDockerArchive(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("testimages: docker archive ref %q: %w", ref, err)
	}
	// Written beside path and renamed so that a watcher never sees half of it.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("testimages: docker archive: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("testimages: docker archive: %w", err)
	}
	return nil
}

// tarDir packs the regular files and directories under dir into a tar at
// path, in sorted order, via a temporary file renamed into place so that a
// watcher never sees half an archive.
func tarDir(path, dir string) (err error) {
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("testimages: walk layout: %w", err)
	}
	sort.Strings(names)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("testimages: archive: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	for _, p := range names {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("testimages: archive: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size()}
		if fi.IsDir() {
			hdr.Name += "/"
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("testimages: archive: %w", err)
		}
		if !fi.IsDir() {
			if err := copyFile(tw, p); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("testimages: archive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("testimages: archive: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("testimages: archive: %w", err)
	}
	return nil
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("testimages: archive: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("testimages: archive %s: %w", p, err)
	}
	return nil
}
