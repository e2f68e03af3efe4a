package cache

import (
	"bytes"
	"sync"
)

// frame holds an event's JSON watch-stream line, encoded by the first
// watcher that sends it and shared by every other: with a thousand
// watchers of one resource, encoding per watcher would dominate.
type frame struct {
	once sync.Once
	b    []byte
}

// Frame returns the event as one line of a JSON watch stream,
// {"type":"…","object":…}\n, the object carrying the event's revision.
// The bytes are shared: callers must not modify them.
func (ev Event) Frame() []byte {
	if ev.frame == nil {
		// Made for one watcher (a filter turned it into Added or Deleted).
		return encodeFrame(ev)
	}
	ev.frame.once.Do(func() { ev.frame.b = encodeFrame(ev) })
	return ev.frame.b
}

func encodeFrame(ev Event) []byte {
	var b bytes.Buffer
	b.Grow(len(ev.Obj.Raw) + 80)
	b.WriteString(`{"type":"`)
	b.WriteString(string(ev.Type))
	b.WriteString(`","object":`)
	_ = ev.Obj.WriteJSON(&b, ev.RV)
	b.WriteString("}\n")
	return b.Bytes()
}
