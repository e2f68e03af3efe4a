package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/libs/bus/buspb"
	"drover.dev/libs/natstest"
)

// publishChain publishes configmap changes at revisions revs, each naming the one before.
func publishChain(t testing.TB, js jetstream.JetStream, revs ...int64) {
	t.Helper()
	publishChainOf(t, js, "configmaps", revs...)
}

func publishChainOf(t testing.TB, js jetstream.JetStream, resource string, revs ...int64) {
	t.Helper()
	prev := int64(0)
	for _, rev := range revs {
		data, err := proto.Marshal(&buspb.Event{Type: buspb.EventType_EVENT_TYPE_ADDED, Resource: resource, Namespace: "default",
			Name: fmt.Sprint("obj-", rev), ResourceVersion: rev, PreviousRevision: prev, Object: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: EventSubject("", resource, "default", fmt.Sprint("obj-", rev)), Data: data, Header: nats.Header{}}
		msg.Header.Set(RevisionHeader, strconv.FormatInt(rev, 10))
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		prev = rev
	}
}

// A consumer that fell behind the stream's retention must re-list: SeqAfter
// refuses a revision whose successors are gone, and finds the start otherwise.
func TestSeqAfterDetectsRetentionGap(t *testing.T) {
	_, js := natstest.Start(t).JetStream(t)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: EventsStream, Subjects: []string{EventsSubject + ".>"}, MaxMsgs: 3})
	if err != nil {
		t.Fatal(err)
	}
	publishChain(t, js, 10, 20, 30, 40, 50) // retention keeps 30, 40, 50
	tests := []struct {
		name    string
		rev     int64
		wantSeq uint64
		gap     bool
	}{
		{"fell behind retention", 10, 0, true},
		{"just before the oldest kept", 20, 3, false},
		{"inside", 35, 4, false},
		{"caught up", 50, 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, err := SeqAfter(ctx, stream, tt.rev)
			if tt.gap {
				if !errors.Is(err, ErrGap) {
					t.Fatalf("want ErrGap, got seq %d err %v", seq, err)
				}
				return
			}
			if err != nil || seq != tt.wantSeq {
				t.Fatalf("seq %d err %v, want %d", seq, err, tt.wantSeq)
			}
		})
	}
}

func revs(from, to int64) []int64 {
	var out []int64
	for r := from; r <= to; r++ {
		out = append(out, r)
	}
	return out
}

// startStreams starts NATS with drover's streams and returns a JetStream
// client.
func startStreams(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Start(t).JetStream(t)
	if err := EnsureStreams(context.Background(), js, DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	return js
}

func configMapWatch(js jetstream.JetStream, pending int) *ListWatch {
	return &ListWatch{JS: js, PendingLimit: pending, Source: Source{
		Stream:  EventsStream,
		Subject: ResourceSubject("", "configmaps", "default"),
		Decode: func(b []byte) (runtime.Object, error) {
			return &metav1.PartialObjectMetadata{}, json.Unmarshal(b, &struct{}{})
		},
	}}
}

// next reads the revisions of n events from w.
func next(t *testing.T, w watch.Interface, n int) []int64 {
	t.Helper()
	var got []int64
	for range n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended after %v", got)
			}
			rv, _ := strconv.ParseInt(ev.Object.(*metav1.PartialObjectMetadata).ResourceVersion, 10, 64)
			got = append(got, rv)
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out after %v", got)
		}
	}
	return got
}

// noMoreEvents fails if w delivers anything within 200 ms.
func noMoreEvents(t *testing.T, w watch.Interface) {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		t.Fatalf("unexpected event %v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

// A watch reads what the stream holds after its resourceVersion, then
// follows live changes: each once, in order, also when changes are
// published while it catches up.
func TestWatchCatchesUpThenFollows(t *testing.T) {
	js := startStreams(t)
	publishChain(t, js, revs(1, 200)...)
	w, err := configMapWatch(js, 0).Watch(metav1.ListOptions{ResourceVersion: "50"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publishChain(t, js, revs(201, 300)...)
	if got, want := fmt.Sprint(next(t, w, 250)), fmt.Sprint(revs(51, 300)); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	noMoreEvents(t, w)
}

// On a NATS cluster a new subscription can miss the first changes stored
// after the watch read the stream's end: the first live change it gets
// then reads those from the stream, so nothing is lost or repeated.
func TestWatchFillsWhatTheSubscriptionMissed(t *testing.T) {
	js := startStreams(t)
	publishChain(t, js, revs(1, 5)...) // stream sequences 1-5
	dropLive = func(seq uint64) bool { return seq == 7 }
	t.Cleanup(func() { dropLive = nil })
	w, err := configMapWatch(js, 0).Watch(metav1.ListOptions{ResourceVersion: "5"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publishChainOf(t, js, "secrets", 6) // sequence 6, another subject
	publishChain(t, js, 7, 8)           // 7 is lost, 8 arrives
	if got, want := fmt.Sprint(next(t, w, 2)), "[7 8]"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	noMoreEvents(t, w)
}

// The list can be ahead of the stream (the publisher follows etcd): the
// watch skips the changes the list already holds.
func TestWatchSkipsWhatTheListHolds(t *testing.T) {
	js := startStreams(t)
	publishChain(t, js, revs(1, 10)...)
	w, err := configMapWatch(js, 0).Watch(metav1.ListOptions{ResourceVersion: "15"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publishChain(t, js, revs(11, 20)...)
	if got, want := fmt.Sprint(next(t, w, 5)), fmt.Sprint(revs(16, 20)); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// A watcher that does not keep up loses changes in the NATS client: the
// watch ends (the reflector re-lists) after a gapless prefix.
func TestWatchEndsWhenChangesAreDropped(t *testing.T) {
	js := startStreams(t)
	publishChain(t, js, 1)
	w, err := configMapWatch(js, 5).Watch(metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publishChain(t, js, revs(2, 400)...)
	want := int64(2)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				if want > 400 {
					t.Fatal("every change arrived: nothing was dropped")
				}
				return
			}
			rv, _ := strconv.ParseInt(ev.Object.(*metav1.PartialObjectMetadata).ResourceVersion, 10, 64)
			if rv != want {
				t.Fatalf("got revision %d, want %d", rv, want)
			}
			want++
		case <-deadline:
			t.Fatalf("watch did not end; at revision %d", want)
		}
	}
}

// A watch from a revision the stream no longer holds is refused.
func TestWatchRefusesARevisionPastRetention(t *testing.T) {
	js := startStreams(t)
	stream, err := js.Stream(context.Background(), EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	publishChain(t, js, 10, 20, 30)
	if err := stream.Purge(context.Background(), jetstream.WithPurgeKeep(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := configMapWatch(js, 0).Watch(metav1.ListOptions{ResourceVersion: "10"}); !errors.Is(err, ErrGap) {
		t.Fatalf("want ErrGap, got %v", err)
	}
}
