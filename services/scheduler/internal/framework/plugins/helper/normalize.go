// Package helper holds small functions several plugins share.
package helper

import "drover.dev/scheduler/internal/framework"

// DefaultNormalizeScore scales scores to [0, maxPriority] by the highest
// score; reverse flips them (lower raw score is better).
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores framework.NodeScoreList) {
	var max int64
	for _, s := range scores {
		if s.Score > max {
			max = s.Score
		}
	}
	if max == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return
	}
	for i := range scores {
		s := maxPriority * scores[i].Score / max
		if reverse {
			s = maxPriority - s
		}
		scores[i].Score = s
	}
}
