package buspublisher

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/libs/bus"
	"drover.dev/libs/bus/buspb"
	"drover.dev/libs/etcdtest"
	"drover.dev/libs/natstest"
)

type env struct {
	etcd *clientv3.Client
	nc   *nats.Conn
	js   jetstream.JetStream
}

func setup(t testing.TB) *env {
	t.Helper()
	e := etcdtest.Start(t)
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	nc, js := natstest.Start(t).JetStream(t)
	return &env{etcd: etcd, nc: nc, js: js}
}

func (e *env) publisher(id string) *Publisher {
	return New(Config{Etcd: e.etcd, Prefix: "/registry", JS: e.js, Registry: registry.Builtin(),
		Parse: endpoints.Parse, Skip: []string{"ranges"}, Identity: id, Streams: bus.DefaultStreamOptions(), SessionTTL: 2})
}

func configMap(name string) string {
	return fmt.Sprintf(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":%q,"namespace":"default","uid":"u-%s"}}`, name, name)
}

func pod(name, node string) string {
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":"default"},"spec":{"nodeName":%q,"containers":[{"name":"c","image":"x"}]}}`, name, node)
}

// readStream returns the decoded messages of a stream in order.
func readStream(t *testing.T, js jetstream.JetStream, name string, want int) []*buspb.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*buspb.Event
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s, err := js.Stream(ctx, name)
		if err == nil {
			info, err := s.Info(ctx)
			if err == nil && info.State.Msgs >= uint64(want) {
				out = out[:0]
				for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
					m, err := s.GetMsg(ctx, seq)
					if err != nil {
						t.Fatal(err)
					}
					ev := &buspb.Event{}
					if err := proto.Unmarshal(m.Data, ev); err != nil {
						t.Fatal(err)
					}
					out = append(out, ev)
				}
				return out
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stream %s did not reach %d messages", name, want)
	return nil
}

// changes drops progress markers.
func changes(evs []*buspb.Event) []*buspb.Event {
	var out []*buspb.Event
	for _, ev := range evs {
		if ev.Type != buspb.EventType_EVENT_TYPE_UNSPECIFIED {
			out = append(out, ev)
		}
	}
	return out
}

func TestPublishesEveryChangeInOrder(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := e.publisher("a")
	go p.Run(ctx)
	<-p.Publishing()
	for i := range 5 {
		if _, err := e.etcd.Put(ctx, fmt.Sprintf("/registry/configmaps/default/cm-%d", i), configMap(fmt.Sprintf("cm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.etcd.Put(ctx, "/registry/ranges/serviceips/10.96.0.9", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.etcd.Delete(ctx, "/registry/configmaps/default/cm-1"); err != nil {
		t.Fatal(err)
	}
	evs := changes(readStream(t, e.js, bus.EventsStream, 7)) // a start marker, then the changes
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6 (allocation keys are not published)", len(evs))
	}
	for i, ev := range evs {
		if i > 0 && ev.PreviousRevision != evs[i-1].ResourceVersion {
			t.Fatalf("event %d: previous_revision %d, want %d", i, ev.PreviousRevision, evs[i-1].ResourceVersion)
		}
		if i > 0 && ev.ResourceVersion <= evs[i-1].ResourceVersion {
			t.Fatalf("out of order at %d", i)
		}
	}
	last := evs[5]
	if last.Type != buspb.EventType_EVENT_TYPE_DELETED || last.Name != "cm-1" || last.Uid != "u-cm-1" || last.Resource != "configmaps" {
		t.Fatalf("delete event %+v", last)
	}
}

func TestRoutesPodsToNodes(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := e.publisher("a")
	go p.Run(ctx)
	<-p.Publishing()
	put := func(v string) {
		if _, err := e.etcd.Put(ctx, "/registry/pods/default/p", v); err != nil {
			t.Fatal(err)
		}
	}
	put(pod("p", ""))       // unscheduled: no node subject
	put(pod("p", "node-a")) // bound to node-a
	put(pod("p", "node-b")) // moved: node-a hears it leave, node-b hears it arrive
	if _, err := e.etcd.Delete(ctx, "/registry/pods/default/p"); err != nil {
		t.Fatal(err)
	}
	evs := readStream(t, e.js, bus.NodesStream, 4)
	s, _ := e.js.Stream(ctx, bus.NodesStream)
	var subjects []string
	for seq := uint64(1); seq <= uint64(len(evs)); seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, m.Subject)
	}
	want := []string{
		bus.NodePodSubject("node-a", "default", "p"),
		bus.NodePodSubject("node-b", "default", "p"),
		bus.NodePodSubject("node-a", "default", "p"),
		bus.NodePodSubject("node-b", "default", "p"),
	}
	if fmt.Sprint(subjects) != fmt.Sprint(want) {
		t.Fatalf("node subjects %v, want %v", subjects, want)
	}
}

// Two candidates; the leader is stopped in the middle of a stream of
// writes. Every revision must be on the stream exactly once, in order.
func TestFailoverNeitherLosesNorDuplicates(t *testing.T) {
	e := setup(t)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	var wg sync.WaitGroup
	a := e.publisher("a")
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctxA) }()
	<-a.Publishing()
	wg.Add(1)
	go func() { defer wg.Done(); e.publisher("b").Run(ctxB) }()
	const n = 300
	for i := range n {
		if i == n/3 {
			cancelA() // the leader goes away mid-stream
		}
		if _, err := e.etcd.Put(context.Background(), fmt.Sprintf("/registry/configmaps/default/cm-%d", i), configMap(fmt.Sprintf("cm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	evs := changes(readStream(t, e.js, bus.EventsStream, n+1))
	if len(evs) != n {
		t.Fatalf("%d events on the stream, want exactly %d", len(evs), n)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		if seen[ev.Name] {
			t.Fatalf("%s published twice", ev.Name)
		}
		seen[ev.Name] = true
		if i > 0 && (ev.ResourceVersion <= evs[i-1].ResourceVersion || ev.PreviousRevision != evs[i-1].ResourceVersion) {
			t.Fatalf("order broken at %d: rev %d prev %d after %d", i, ev.ResourceVersion, ev.PreviousRevision, evs[i-1].ResourceVersion)
		}
	}
	cancelB()
	wg.Wait()
}

// A progress request for the current revision is answered with a marker on
// the events stream once every change up to it is published, even when the
// revision moved through writes outside the prefix.
func TestProgressMarker(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := e.publisher("a")
	go p.Run(ctx)
	<-p.Publishing()
	if _, err := e.etcd.Put(ctx, "/registry/configmaps/default/x", configMap("x")); err != nil {
		t.Fatal(err)
	}
	resp, err := e.etcd.Put(ctx, "/elsewhere", "moves the revision without a change to publish")
	if err != nil {
		t.Fatal(err)
	}
	want := resp.Header.Revision
	if err := e.nc.Publish(bus.ProgressSubject, []byte(fmt.Sprint(want))); err != nil {
		t.Fatal(err)
	}
	evs := readStream(t, e.js, bus.EventsStream, 3) // start marker, change, marker
	marker := evs[len(evs)-1]
	if marker.Type != buspb.EventType_EVENT_TYPE_UNSPECIFIED || marker.ResourceVersion < want {
		t.Fatalf("want a marker at %d or later, got %+v", want, marker)
	}
	if evs[1].Name != "x" || marker.PreviousRevision != evs[1].ResourceVersion {
		t.Fatalf("marker does not follow the change: %+v then %+v", evs[1], marker)
	}
	if start := evs[0]; start.Type != buspb.EventType_EVENT_TYPE_UNSPECIFIED || start.PreviousRevision != start.ResourceVersion {
		t.Fatalf("a new stream must open with a marker naming its start revision: %+v", start)
	}
}
