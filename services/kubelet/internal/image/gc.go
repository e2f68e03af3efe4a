package image

import (
	"context"
	"fmt"
	"sort"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// GarbageCollect removes images that are not in use (inUse holds image IDs),
// least recently used first, while the filesystem holding the store is
// above highPercent used, until it is at or under lowPercent, deleting the
// blobs and layers no remaining image references. It returns an error
// wrapping ErrDiskUsage when it ran out of images to remove.
func (s *Store) GarbageCollect(ctx context.Context, inUse map[string]bool, highPercent, lowPercent int) error {
	if highPercent < 0 || highPercent > 100 || lowPercent < 0 || lowPercent > highPercent {
		return fmt.Errorf("image: gc thresholds high=%d low=%d: want 0 <= low <= high <= 100", highPercent, lowPercent)
	}
	used, err := diskUsagePercent(s.root)
	if err != nil {
		return err
	}
	if used <= highPercent {
		return nil
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	s.mu.Lock()
	var candidates []*record
	for id, r := range s.images {
		if !inUse[id] {
			candidates = append(candidates, r)
		}
	}
	s.mu.Unlock()
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].LastUsed.Before(candidates[j].LastUsed) })

	start := used
	removed := 0
	for _, r := range candidates {
		if used <= lowPercent {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.images, r.ID)
		err := s.persistLocked()
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if err := s.pruneLocked(); err != nil {
			return err
		}
		removed++
		s.lg.Info("garbage-collected image", zap.String("image", r.ID), zap.Strings("tags", r.RepoTags), zap.Time("lastUsed", r.LastUsed))
		if used, err = diskUsagePercent(s.root); err != nil {
			return err
		}
	}
	s.lg.Info("image garbage collection done", zap.Int("removed", removed), zap.Int("usedBefore", start), zap.Int("usedAfter", used))
	if used > lowPercent {
		return fmt.Errorf("%w: %d%% used after removing %d unused images (low threshold %d%%)", ErrDiskUsage, used, removed, lowPercent)
	}
	return nil
}

// diskUsagePercent is the used share of the filesystem holding path, as df
// computes it (space reserved for root counts as unavailable).
func diskUsagePercent(path string) (int, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("image: statfs %s: %w", path, err)
	}
	used := st.Blocks - st.Bfree
	total := used + st.Bavail
	if total == 0 {
		return 0, nil
	}
	return int((used*100 + total - 1) / total), nil
}
