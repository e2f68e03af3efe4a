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
	goruntime "runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"go.uber.org/zap"

	"drover.dev/kubelet/internal/runtime"
)

// Annotations naming the images of an OCI layout's index.json:
// containerd's holds the full reference, the OCI one often only the tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ImportArchive loads every image of an OCI image layout packed in a tar
// (index.json; names from the io.containerd.image.name annotation, or
// org.opencontainers.image.ref.name when it holds a full reference) or of a
// `docker save` tarball (manifest.json RepoTags). An archive holding both
// (as Docker 25+ writes) is read as OCI. Images without a usable name are
// stored by ID only. Errors wrap ErrBadArchive when the archive is bad.
func (s *Store) ImportArchive(ctx context.Context, archive string) ([]*runtime.Image, error) {
	kind, err := archiveKind(archive)
	if err != nil {
		return nil, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	var imgs []*runtime.Image
	switch kind {
	case "oci":
		imgs, err = s.importOCI(ctx, archive)
	default:
		imgs, err = s.importDocker(ctx, archive)
	}
	if err != nil {
		return nil, fmt.Errorf("image: import %s: %w", archive, err)
	}
	for _, img := range imgs {
		s.lg.Info("imported image", zap.String("archive", archive), zap.String("image", img.ID), zap.Strings("tags", img.RepoTags))
	}
	return imgs, nil
}

// archiveKind reads the tar's table of contents: "oci" or "docker".
func archiveKind(archive string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", fmt.Errorf("image: import: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrBadArchive, archive, err)
		}
		seen[path.Clean(hdr.Name)] = true
	}
	switch {
	case seen["index.json"] && seen["oci-layout"]:
		return "oci", nil
	case seen["manifest.json"]:
		return "docker", nil
	}
	return "", fmt.Errorf("%w: %s has neither index.json+oci-layout nor manifest.json", ErrBadArchive, archive)
}

func (s *Store) importOCI(ctx context.Context, archive string) ([]*runtime.Image, error) {
	dir, err := os.MkdirTemp(s.tmpDir(), "import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := extractLayout(ctx, archive, dir); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	var out []*runtime.Image
	for _, desc := range im.Manifests {
		img, err := platformImage(idx, desc)
		if err != nil {
			return nil, err
		}
		raw, err := img.RawManifest()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		if desc.MediaType.IsImage() && digestOf(raw) != desc.Digest.String() {
			return nil, fmt.Errorf("%w: manifest %s is corrupt", ErrBadArchive, desc.Digest)
		}
		var tags, digests []string
		if n := layoutName(desc.Annotations); n != nil {
			tags = []string{canonicalName(n)}
			digests = []string{canonicalName(n.Context().Digest(desc.Digest.String()))}
		}
		rimg, err := s.add(ctx, img, tags, digests)
		if err != nil {
			return nil, err
		}
		out = append(out, rimg)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: index.json lists no images", ErrBadArchive)
	}
	return out, nil
}

// platformImage returns the image desc points at, choosing this machine's
// platform (or the only entry) when it is an index.
func platformImage(idx v1.ImageIndex, desc v1.Descriptor) (v1.Image, error) {
	switch {
	case desc.MediaType.IsImage():
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		return img, nil
	case desc.MediaType.IsIndex():
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		want := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
		for _, m := range cm.Manifests {
			if m.MediaType.IsImage() && (len(cm.Manifests) == 1 || (m.Platform != nil && m.Platform.Satisfies(want))) {
				return platformImage(child, m)
			}
		}
		return nil, fmt.Errorf("%w: index %s has no image for %s/%s", ErrBadArchive, desc.Digest, want.OS, want.Architecture)
	}
	return nil, fmt.Errorf("%w: unsupported media type %s", ErrBadArchive, desc.MediaType)
}

// layoutName is the reference an index.json entry names, if any: the
// containerd annotation, or the OCI one when it is more than a bare tag.
func layoutName(ann map[string]string) name.Reference {
	for _, n := range []string{ann[annotationContainerdName], ann[annotationRefName]} {
		if n == "" || !strings.ContainsAny(n, "/:@") {
			continue
		}
		if r, err := name.ParseReference(n); err == nil {
			return r
		}
	}
	return nil
}

// extractLayout unpacks the parts of an OCI layout (oci-layout, index.json,
// blobs/<alg>/<hex>) from a tar into dir, ignoring anything else.
func extractLayout(ctx context.Context, archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(&ctxReader{ctx: ctx, r: f})
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if !layoutFile(n) {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if _, err := writeFile(p, tr); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, n, err)
		}
	}
}

func layoutFile(n string) bool {
	if n == "index.json" || n == "oci-layout" {
		return true
	}
	parts := strings.Split(n, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return false
		}
	}
	return true
}

func (s *Store) importDocker(ctx context.Context, archive string) ([]*runtime.Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(archive) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	var out []*runtime.Image
	for _, entry := range m {
		var (
			tag  *name.Tag
			tags []string
		)
		for _, t := range entry.RepoTags {
			nt, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("%w: tag %q: %v", ErrBadArchive, t, err)
			}
			if tag == nil {
				tag = &nt
			}
			tags = append(tags, canonicalName(nt))
		}
		if tag == nil && len(m) > 1 {
			return nil, fmt.Errorf("%w: untagged image %s among several", ErrBadArchive, entry.Config)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
		}
		rimg, err := s.add(ctx, img, tags, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, rimg)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no images", ErrBadArchive)
	}
	return out, nil
}

// Subdirectories of a watched import directory.
const (
	importedDir = "imported"
	failedDir   = "failed"
)

// WatchImportDir imports archives dropped into dir until ctx is done,
// scanning every ImportPollInterval. A file is imported once it has stopped
// changing (same size and mtime on two scans, or older than two intervals);
// names starting with "." are ignored, so writers should write ".name" and
// rename. Imported archives move to dir/imported, bad ones to dir/failed
// with the error beside them in <name>.error.
func (s *Store) WatchImportDir(ctx context.Context, dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, importedDir), filepath.Join(dir, failedDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("image: import dir: %w", err)
		}
	}
	type stamp struct {
		size  int64
		mtime time.Time
	}
	seen := map[string]stamp{}
	t := time.NewTicker(s.pollInterval)
	defer t.Stop()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			s.lg.Warn("failed to scan import dir", zap.String("dir", dir), zap.Error(err))
		}
		next := map[string]stamp{}
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			st := stamp{fi.Size(), fi.ModTime()}
			prev, ok := seen[e.Name()]
			if !(ok && prev == st) && time.Since(st.mtime) < 2*s.pollInterval {
				next[e.Name()] = st // still being written, maybe
				continue
			}
			s.importDropped(ctx, dir, e.Name())
		}
		seen = next
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Store) importDropped(ctx context.Context, dir, file string) {
	src := filepath.Join(dir, file)
	_, err := s.ImportArchive(ctx, src)
	if ctx.Err() != nil {
		return // interrupted, not bad: retried next time
	}
	dest := importedDir
	if err != nil {
		dest = failedDir
		s.lg.Warn("failed to import archive", zap.String("archive", src), zap.Error(err))
	}
	target := filepath.Join(dir, dest, file)
	if _, serr := os.Lstat(target); serr == nil {
		target += "." + time.Now().UTC().Format("20060102T150405.000000000")
	}
	if rerr := os.Rename(src, target); rerr != nil {
		s.lg.Warn("failed to move archive", zap.String("archive", src), zap.Error(rerr))
		return
	}
	if err != nil {
		if werr := os.WriteFile(target+".error", []byte(err.Error()+"\n"), 0o644); werr != nil {
			s.lg.Warn("failed to write import error", zap.String("archive", target), zap.Error(werr))
		}
	}
}
