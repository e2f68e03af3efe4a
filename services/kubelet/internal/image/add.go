package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"drover.dev/kubelet/internal/runtime"
)

// layerJobs is how many layers of one image are fetched and unpacked at once.
const layerJobs = 3

// layerMeta is layers/sha256/<diffID>/layer.json.
type layerMeta struct {
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"` // bytes of regular files
}

// add stores img (config, manifest, layers) and names it with tags and
// digests (canonical names), moving those tags off any other image. The
// caller holds s.gcMu shared.
func (s *Store) add(ctx context.Context, img v1.Image, tags, digests []string) (*runtime.Image, error) {
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("config digest: %w", err)
	}
	id := digestOf(rawCfg)
	if id != cfgName.String() {
		return nil, fmt.Errorf("config digest mismatch: manifest says %s, content is %s", cfgName, id)
	}
	cfg, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(layers) != len(diffIDs) {
		return nil, fmt.Errorf("manifest has %d layers but config has %d diffIDs", len(layers), len(diffIDs))
	}

	sizes := make([]int64, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(layerJobs)
	for i, l := range layers {
		g.Go(func() error {
			sz, err := s.ensureLayer(gctx, l, diffIDs[i].String())
			sizes[i] = sz
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if _, err := s.writeBlob(rawCfg); err != nil {
		return nil, err
	}
	manifestDigest, err := s.writeBlob(rawManifest)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.images[id]
	if !ok {
		r = &record{ID: id, Created: time.Now(), cfg: cfg}
		for i, d := range diffIDs {
			r.Layers = append(r.Layers, d.String())
			r.Size += sizes[i]
		}
		s.images[id] = r
	}
	r.ManifestDigest = manifestDigest
	for _, other := range s.images {
		if other != r {
			other.RepoTags = slices.DeleteFunc(other.RepoTags, func(t string) bool { return slices.Contains(tags, t) })
		}
	}
	r.RepoTags = mergeNames(r.RepoTags, tags)
	r.RepoDigests = mergeNames(r.RepoDigests, digests)
	r.LastUsed = time.Now()
	if err := s.persistLocked(); err != nil {
		return nil, err
	}
	return r.image(), nil
}

func mergeNames(have, add []string) []string {
	for _, n := range add {
		if !slices.Contains(have, n) {
			have = append(have, n)
		}
	}
	slices.Sort(have)
	return have
}

// ensureLayer unpacks l into layers/sha256/<diffID> unless it is there, once
// even when several pulls want it at the same time, and returns its size.
func (s *Store) ensureLayer(ctx context.Context, l v1.Layer, diffID string) (int64, error) {
	if !validDigest(diffID) {
		return 0, fmt.Errorf("bad diffID %q", diffID)
	}
	if m, err := s.readLayerMeta(diffID); err == nil {
		return m.Size, nil
	}
	v, err, _ := s.flight.Do("layer:"+diffID, func() (any, error) {
		if m, err := s.readLayerMeta(diffID); err == nil {
			return m.Size, nil
		}
		start := time.Now()
		size, err := s.unpackLayer(ctx, l, diffID)
		if err != nil {
			return int64(0), err
		}
		s.lg.Debug("unpacked layer", zap.String("diffID", diffID), zap.Int64("bytes", size), zap.Duration("took", time.Since(start)))
		return size, nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

func (s *Store) readLayerMeta(diffID string) (*layerMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.layerPath(diffID), "layer.json"))
	if err != nil {
		return nil, err
	}
	var m layerMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// unpackLayer extracts l into a temporary directory, checks the content
// against diffID, syncs it and renames it into place.
func (s *Store) unpackLayer(ctx context.Context, l v1.Layer, diffID string) (int64, error) {
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-")
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer os.RemoveAll(tmp)
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	defer rc.Close()
	h := sha256.New()
	src := &ctxReader{ctx: ctx, r: io.TeeReader(rc, h)}
	size, err := unpack(ctx, src, fsDir, s.lg)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	// The digest covers the whole stream, including tar padding after the
	// end-of-archive marker.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	if got := sumString(h); got != diffID {
		return 0, fmt.Errorf("layer %s: content digest is %s", diffID, got)
	}
	meta, _ := json.Marshal(layerMeta{DiffID: diffID, Size: size})
	if err := os.WriteFile(filepath.Join(tmp, "layer.json"), meta, 0o600); err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	// One syncfs makes every file durable before the rename publishes the
	// layer, so that a crash cannot leave a complete-looking empty layer.
	if err := syncFS(tmp); err != nil {
		return 0, fmt.Errorf("layer %s: sync: %w", diffID, err)
	}
	if err := os.Rename(tmp, s.layerPath(diffID)); err != nil {
		if _, serr := os.Stat(filepath.Join(s.layerPath(diffID), "layer.json")); serr == nil {
			return size, nil // another process won the race
		}
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	return size, nil
}

func sumString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// ctxReader stops a long download or unpack when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
