// Package image is the kubelet's image store: it pulls images from
// registries and imports archives with go-containerregistry, keeps manifests
// and configs once by digest, unpacks each layer once into its own directory
// (keyed by diffID) for use as an overlayfs lower layer shared between
// images, and remembers which references name which image across restarts.
//
// Layout under the root directory:
//
//	index.json                 refs → image records (written atomically)
//	blobs/sha256/<hex>         manifests and image configs
//	layers/sha256/<diffID>/fs  one unpacked layer; the directory only appears,
//	                           by rename, once its content is complete and synced
//	layers/sha256/<diffID>/layer.json  its size
//	tmp/                       work in progress, emptied at start
package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"drover.dev/kubelet/internal/runtime"
)

// Errors of the image store. Pull failures wrap ErrImagePull (and the
// cause), so the kubelet can report ErrImagePull / ImagePullBackOff.
var (
	// ErrImagePull means an image could not be fetched from its registry.
	ErrImagePull = errors.New("image: pull failed")
	// ErrInvalidImageName means a reference could not be parsed.
	ErrInvalidImageName = errors.New("image: invalid image name")
	// ErrUnsafeLayer means a layer tried to write outside its directory.
	ErrUnsafeLayer = errors.New("image: unsafe path in layer")
	// ErrBadArchive means an archive is neither an OCI layout nor a
	// docker-save tarball, or is corrupt.
	ErrBadArchive = errors.New("image: bad image archive")
	// ErrDiskUsage means garbage collection could not bring disk usage
	// under the low threshold with the images it was allowed to remove.
	ErrDiskUsage = errors.New("image: disk usage still above threshold")
)

var _ runtime.ImageService = (*Store)(nil)

// Options configure a Store.
type Options struct {
	Logger *zap.Logger
	// InsecureRegistries may be reached over plain HTTP or TLS without
	// verification: "host", "host:port" or a CIDR. Loopback registries
	// always are, as Docker does.
	InsecureRegistries []string
	// ImportPollInterval is how often WatchImportDir scans (default 2s).
	ImportPollInterval time.Duration
}

// Store is a local image store. It is safe for concurrent use.
type Store struct {
	root string
	lg   *zap.Logger
	reg  *registryAccess

	pollInterval time.Duration

	// gcMu: pulls and imports hold it shared while they add layers and blobs
	// that no record references yet; deleting unreferenced ones needs it
	// exclusively.
	gcMu sync.RWMutex
	// mu guards images and index.json.
	mu     sync.Mutex
	images map[string]*record // by ID

	flight singleflight.Group
}

// record is what index.json keeps for one image.
type record struct {
	ID             string    `json:"id"`
	ManifestDigest string    `json:"manifestDigest"`
	RepoTags       []string  `json:"repoTags,omitempty"`
	RepoDigests    []string  `json:"repoDigests,omitempty"`
	Layers         []string  `json:"layers"` // diffIDs, bottom first
	Size           int64     `json:"size"`
	Created        time.Time `json:"created"`
	LastUsed       time.Time `json:"lastUsed"`

	cfg *v1.ConfigFile
}

type indexFile struct {
	Version int       `json:"version"`
	Images  []*record `json:"images"`
}

// New opens (or creates) the store under root, dropping work left by a
// crash and records whose files are gone.
func New(root string, opts Options) (*Store, error) {
	lg := opts.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	reg, err := newRegistryAccess(opts.InsecureRegistries)
	if err != nil {
		return nil, err
	}
	s := &Store{
		root:         root,
		lg:           lg,
		reg:          reg,
		pollInterval: opts.ImportPollInterval,
		images:       map[string]*record{},
	}
	if s.pollInterval <= 0 {
		s.pollInterval = 2 * time.Second
	}
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("image: clean %s: %w", s.tmpDir(), err)
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	// Layers must be reachable for overlay mounts; the rest is private.
	for d, mode := range map[string]os.FileMode{
		s.tmpDir():                              0o700,
		filepath.Join(root, "blobs", "sha256"):  0o700,
		filepath.Join(root, "layers", "sha256"): 0o755,
	} {
		if err := os.MkdirAll(d, mode); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) tmpDir() string    { return filepath.Join(s.root, "tmp") }
func (s *Store) indexPath() string { return filepath.Join(s.root, "index.json") }

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) layerPath(diffID string) string {
	return filepath.Join(s.root, "layers", "sha256", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) load() error {
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image: read index: %w", err)
	}
	var idx indexFile
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("image: parse %s: %w", s.indexPath(), err)
	}
	dropped := false
	for _, r := range idx.Images {
		if err := s.loadRecord(r); err != nil {
			s.lg.Warn("dropping image whose files are gone", zap.String("image", r.ID), zap.Error(err))
			dropped = true
			continue
		}
		s.images[r.ID] = r
	}
	if dropped {
		return s.persistLocked()
	}
	return nil
}

func (s *Store) loadRecord(r *record) error {
	if !validDigest(r.ID) {
		return fmt.Errorf("bad image id %q", r.ID)
	}
	raw, err := os.ReadFile(s.blobPath(r.ID))
	if err != nil {
		return err
	}
	if digestOf(raw) != r.ID {
		return fmt.Errorf("config blob %s is corrupt", r.ID)
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	for _, l := range r.Layers {
		if !validDigest(l) {
			return fmt.Errorf("bad layer id %q", l)
		}
		if _, err := os.Stat(filepath.Join(s.layerPath(l), "fs")); err != nil {
			return err
		}
	}
	r.cfg = cfg
	return nil
}

// persistLocked writes index.json atomically; s.mu must be held.
func (s *Store) persistLocked() error {
	idx := indexFile{Version: 1, Images: make([]*record, 0, len(s.images))}
	for _, r := range s.images {
		idx.Images = append(idx.Images, r)
	}
	sort.Slice(idx.Images, func(i, j int) bool { return idx.Images[i].ID < idx.Images[j].ID })
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("image: encode index: %w", err)
	}
	return writeFileAtomic(s.indexPath(), b)
}

// writeFileAtomic writes b to a temporary file, syncs it and renames it over
// path, so that readers (and a restart after a crash) see old or new.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("image: write %s: %w", path, werr)
	}
	return nil
}

// writeBlob stores b under its digest unless already present.
func (s *Store) writeBlob(b []byte) (string, error) {
	d := digestOf(b)
	p := s.blobPath(d)
	if _, err := os.Stat(p); err == nil {
		return d, nil
	}
	return d, writeFileAtomic(p, b)
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && strings.ToLower(h) == h
}

// canonicalName is how references are stored and compared: go-containerregistry's
// full name with Docker Hub spelled docker.io, as Kubernetes shows it.
func canonicalName(r name.Reference) string {
	n := r.Name()
	if rest, ok := strings.CutPrefix(n, name.DefaultRegistry+"/"); ok {
		return "docker.io/" + rest
	}
	return n
}

func parseRef(ref string, opts ...name.Option) (name.Reference, error) {
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidImageName, ref, err)
	}
	return r, nil
}

// lookupLocked finds the record for ref: an image ID ("sha256:<hex>" or the
// bare hex), name@digest (manifest digest) or name[:tag].
func (s *Store) lookupLocked(ref string) (*record, error) {
	id := ref
	if len(ref) == 64 {
		id = "sha256:" + ref
	}
	if validDigest(id) {
		if r, ok := s.images[id]; ok {
			return r, nil
		}
		return nil, fmt.Errorf("%w: %s", runtime.ErrImageNotPresent, ref)
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	want := canonicalName(r)
	_, byDigest := r.(name.Digest)
	for _, rec := range s.images {
		names := rec.RepoTags
		if byDigest {
			names = rec.RepoDigests
		}
		if slices.Contains(names, want) {
			return rec, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", runtime.ErrImageNotPresent, ref)
}

// ImageStatus returns the local image named ref, or runtime.ErrImageNotPresent.
func (s *Store) ImageStatus(_ context.Context, ref string) (*runtime.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookupLocked(ref)
	if err != nil {
		return nil, err
	}
	return r.image(), nil
}

// ListImages returns every local image, sorted by ID.
func (s *Store) ListImages(context.Context) ([]*runtime.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*runtime.Image, 0, len(s.images))
	for _, r := range s.images {
		out = append(out, r.image())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// LayerDirs returns the unpacked layer directories of an image (ID or any
// name ImageStatus accepts), BOTTOM layer FIRST. overlayfs wants the top
// layer first in lowerdir=, so reverse it there. It also marks the image
// used, for garbage collection.
func (s *Store) LayerDirs(imageID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookupLocked(imageID)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, len(r.Layers))
	for i, l := range r.Layers {
		dirs[i] = filepath.Join(s.layerPath(l), "fs")
	}
	s.touchLocked(r)
	return dirs, nil
}

// touchLocked records that r was used now; index.json is rewritten at most
// once a minute per image for that alone.
func (s *Store) touchLocked(r *record) {
	now := time.Now()
	old := r.LastUsed
	r.LastUsed = now
	if now.Sub(old) > time.Minute {
		if err := s.persistLocked(); err != nil {
			s.lg.Warn("failed to persist image index", zap.Error(err))
		}
	}
}

// RemoveImage deletes an image (ID or name) and the blobs and layers no
// other image uses. Removing a missing image is not an error.
func (s *Store) RemoveImage(_ context.Context, id string) error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	s.mu.Lock()
	r, err := s.lookupLocked(id)
	if errors.Is(err, runtime.ErrImageNotPresent) {
		s.mu.Unlock()
		return nil
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	delete(s.images, r.ID)
	err = s.persistLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.lg.Info("removed image", zap.String("image", r.ID), zap.Strings("tags", r.RepoTags))
	return s.pruneLocked()
}

// pruneLocked deletes blobs and layers no record references; s.gcMu must be
// held exclusively so that no pull is adding unreferenced ones.
func (s *Store) pruneLocked() error {
	s.mu.Lock()
	keepBlobs, keepLayers := map[string]bool{}, map[string]bool{}
	for _, r := range s.images {
		keepBlobs[strings.TrimPrefix(r.ID, "sha256:")] = true
		keepBlobs[strings.TrimPrefix(r.ManifestDigest, "sha256:")] = true
		for _, l := range r.Layers {
			keepLayers[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, kind := range []struct {
		dir  string
		keep map[string]bool
	}{
		{filepath.Join(s.root, "blobs", "sha256"), keepBlobs},
		{filepath.Join(s.root, "layers", "sha256"), keepLayers},
	} {
		entries, err := os.ReadDir(kind.dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if kind.keep[e.Name()] {
				continue
			}
			// Renamed away first so that a half-deleted layer is never
			// mistaken for a complete one.
			p := filepath.Join(kind.dir, e.Name())
			trash, err := os.MkdirTemp(s.tmpDir(), "trash-")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := os.Rename(p, filepath.Join(trash, "x")); err != nil {
				errs = append(errs, err)
			}
			if err := os.RemoveAll(trash); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("image: prune: %w", err)
	}
	return nil
}

// image converts a record for callers, copying what they could mutate.
func (r *record) image() *runtime.Image {
	img := &runtime.Image{
		ID:          r.ID,
		RepoTags:    slices.Clone(r.RepoTags),
		RepoDigests: slices.Clone(r.RepoDigests),
		Size:        r.Size,
	}
	if r.cfg != nil {
		c := r.cfg.Config
		img.Entrypoint = slices.Clone(c.Entrypoint)
		img.Cmd = slices.Clone(c.Cmd)
		img.Env = slices.Clone(c.Env)
		img.WorkingDir = c.WorkingDir
		img.User = c.User
		img.StopSignal = c.StopSignal
	}
	return img
}

func cloneImage(in *runtime.Image) *runtime.Image {
	out := *in
	out.RepoTags = slices.Clone(in.RepoTags)
	out.RepoDigests = slices.Clone(in.RepoDigests)
	out.Entrypoint = slices.Clone(in.Entrypoint)
	out.Cmd = slices.Clone(in.Cmd)
	out.Env = slices.Clone(in.Env)
	return &out
}
