package cache

import (
	"slices"
	"testing"
	"time"
)

func revs(h *history) []int64 {
	var out []int64
	for ev := range h.events() {
		out = append(out, ev.RV)
	}
	return out
}

// record adds events with revisions from..to, one per step of the clock.
func recordRange(h *history, from, to int64, clock *int64, step time.Duration, window time.Duration, limit int) {
	for rv := from; rv <= to; rv++ {
		*clock += int64(step)
		h.record(Event{RV: rv, frame: new(frame)}, *clock, window, limit)
	}
}

// Within the window the ring grows up to the limit, then drops the oldest.
func TestHistoryGrowsToLimitWithinWindow(t *testing.T) {
	var h history
	var clock int64
	recordRange(&h, 1, 1000, &clock, time.Millisecond, time.Hour, 500)
	if h.n != 500 || len(h.ring) != 500 {
		t.Fatalf("held %d events in %d slots, want 500 in 500", h.n, len(h.ring))
	}
	if got := revs(&h); got[0] != 501 || got[499] != 1000 || !slices.IsSorted(got) {
		t.Fatalf("held revisions %d..%d, want 501..1000 in order", got[0], got[len(got)-1])
	}
	if h.start != 500 {
		t.Fatalf("start %d, want 500 (every event after it is held)", h.start)
	}
}

// Events older than the window go once more than historyMin are held, and
// the ring shrinks as it empties.
func TestHistoryDropsEventsOlderThanWindow(t *testing.T) {
	var h history
	var clock int64
	recordRange(&h, 1, 5000, &clock, time.Millisecond, time.Second, 10000)
	if h.n < 1000 || h.n > 1001 {
		t.Fatalf("held %d events of a 1 s window at 1 ms each, want ~1000", h.n)
	}
	grown := len(h.ring)
	// An idle resource: one event a minute.
	recordRange(&h, 5001, 5010, &clock, time.Minute, time.Second, 10000)
	if h.n != historyMin {
		t.Fatalf("held %d events after the window passed, want the minimum %d", h.n, historyMin)
	}
	if got := revs(&h); got[0] != 5010-historyMin+1 || got[len(got)-1] != 5010 {
		t.Fatalf("held revisions %d..%d, want the newest %d", got[0], got[len(got)-1], historyMin)
	}
	if h.start != 5010-historyMin {
		t.Fatalf("start %d, want %d", h.start, 5010-historyMin)
	}
	if len(h.ring) >= grown {
		t.Fatalf("ring still has %d slots (had %d) for %d events", len(h.ring), grown, h.n)
	}
}

// A limit below historyMin still bounds the ring.
func TestHistorySmallLimit(t *testing.T) {
	var h history
	var clock int64
	recordRange(&h, 1, 10, &clock, time.Minute, time.Second, 3)
	if got := revs(&h); !slices.Equal(got, []int64{8, 9, 10}) || h.start != 7 {
		t.Fatalf("held %v from %d, want [8 9 10] from 7", got, h.start)
	}
}

// Only the newest historyFrames events keep their encoded frame.
func TestHistoryDropsOldFrames(t *testing.T) {
	var h history
	var clock int64
	recordRange(&h, 1, historyFrames+10, &clock, time.Millisecond, time.Hour, 10000)
	with := 0
	for ev := range h.events() {
		if ev.frame != nil {
			with++
		}
	}
	if with != historyFrames {
		t.Fatalf("%d events keep frames, want %d", with, historyFrames)
	}
}
