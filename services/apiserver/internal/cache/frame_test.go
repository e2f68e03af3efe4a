package cache_test

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/apiserver/internal/cache"
)

// checkFrame decodes an event's watch-stream line and compares it with the event.
func checkFrame(t *testing.T, i int, ev cache.Event) {
	t.Helper()
	b := ev.Frame()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("event %d: frame %q does not end a line", i, b)
	}
	var got struct {
		Type   watch.EventType `json:"type"`
		Object corev1.Pod      `json:"object"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("event %d: frame %q: %v", i, b, err)
	}
	if got.Type != ev.Type || got.Object.Name != ev.Obj.Name || got.Object.ResourceVersion != itoa(ev.RV) ||
		got.Object.Labels["app"] != ev.Obj.Labels["app"] {
		t.Errorf("event %d: frame says %s %s rv %s app=%s, event is %s %s rv %d app=%s", i,
			got.Type, got.Object.Name, got.Object.ResourceVersion, got.Object.Labels["app"],
			ev.Type, ev.Obj.Name, ev.RV, ev.Obj.Labels["app"])
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Every watcher that sees an event unchanged writes the same encoded
// frame; one that sees it turned into Added or Deleted by its selector
// gets a frame of its own, with the type it sees.
func TestEventFrame(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	watchers := make([]*cache.Watcher, 3)
	for i := range watchers {
		req := cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", FromRV: c.Revision()}
		if i == 2 {
			req.Match = labelMatch(t, "app=web")
		}
		w, err := c.Watch(req)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		watchers[i] = w
	}
	from := c.Revision()
	want := transitions(t, s)
	for i := range want {
		checkFrame(t, i, nextEvent(t, watchers[2]))
	}
	for i := range 8 { // every change in transitions, as an unfiltered watcher sees it
		a, b := nextEvent(t, watchers[0]), nextEvent(t, watchers[1])
		checkFrame(t, i, a)
		fa, fb := a.Frame(), b.Frame()
		if &fa[0] != &fb[0] {
			t.Errorf("event %d: two watchers encoded the same event separately", i)
		}
	}
	// A watcher resuming from history gets the same frames.
	replay, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", FromRV: from})
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Stop()
	if len(replay.Initial) != 8 {
		t.Fatalf("replay has %d events, want 8", len(replay.Initial))
	}
	for i, ev := range replay.Initial {
		checkFrame(t, i, ev)
	}
}

// Events that have left the newest part of the history drop their shared
// frame (memory) but still encode correctly for a watcher that resumes.
func TestEventFrameOldHistory(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{HistorySize: 1000})
	from := c.Revision()
	key := podKey("ns", "p")
	create(t, s, key, podJSON(t, "ns", "p", withLabels("app", "v0")))
	var last int64
	for i := range 300 {
		last = update(t, s, key, podJSON(t, "ns", "p", withLabels("app", fmt.Sprintf("v%d", i+1))))
	}
	waitRev(t, c, last)
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", FromRV: from})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if len(w.Initial) != 301 {
		t.Fatalf("replay has %d events, want 301", len(w.Initial))
	}
	for i, ev := range w.Initial {
		checkFrame(t, i, ev)
	}
}
