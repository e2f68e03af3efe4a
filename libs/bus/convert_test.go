package bus

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/libs/bus/buspb"
)

func podBytes(t *testing.T, app string) []byte {
	t.Helper()
	p := &corev1.Pod{}
	p.Name, p.Namespace, p.Labels = "p", "ns", map[string]string{"app": app}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// convert decodes the previous state only when a filter needs it, and
// turns a change across the filter into Added or Deleted.
func TestConvert(t *testing.T) {
	decodes := 0
	decode := func(b []byte) (runtime.Object, error) {
		decodes++
		p := &corev1.Pod{}
		return p, json.Unmarshal(b, p)
	}
	web := func(o runtime.Object) bool { return o.(*corev1.Pod).Labels["app"] == "web" }
	tests := []struct {
		name        string
		typ         buspb.EventType
		obj, old    string // app label; "" for no old state
		match       func(runtime.Object) bool
		want        watch.EventType // "" for not seen
		wantDecodes int
	}{
		{"modified, no filter", buspb.EventType_EVENT_TYPE_MODIFIED, "web", "db", nil, watch.Modified, 1},
		{"added, no filter", buspb.EventType_EVENT_TYPE_ADDED, "web", "", nil, watch.Added, 1},
		{"deleted, no filter", buspb.EventType_EVENT_TYPE_DELETED, "web", "web", nil, watch.Deleted, 1},
		{"modified within the filter", buspb.EventType_EVENT_TYPE_MODIFIED, "web", "web", web, watch.Modified, 2},
		{"modified into the filter", buspb.EventType_EVENT_TYPE_MODIFIED, "web", "db", web, watch.Added, 2},
		{"modified out of the filter", buspb.EventType_EVENT_TYPE_MODIFIED, "db", "web", web, watch.Deleted, 2},
		{"modified outside the filter", buspb.EventType_EVENT_TYPE_MODIFIED, "db", "db", web, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decodes = 0
			ev := &buspb.Event{Type: tt.typ, ResourceVersion: 7, Object: podBytes(t, tt.obj)}
			if tt.old != "" {
				ev.OldObject = podBytes(t, tt.old)
			}
			out, ok, err := convert(ev, Source{Decode: decode, Match: tt.match})
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]watch.EventType{true: out.Type}[ok]; got != tt.want {
				t.Errorf("event %q, want %q", got, tt.want)
			}
			if ok && out.Object.(*corev1.Pod).ResourceVersion != "7" {
				t.Errorf("resourceVersion %q, want the change's 7", out.Object.(*corev1.Pod).ResourceVersion)
			}
			if decodes != tt.wantDecodes {
				t.Errorf("%d decodes, want %d", decodes, tt.wantDecodes)
			}
		})
	}
}
