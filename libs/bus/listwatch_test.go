package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"drover.dev/libs/bus/buspb"
	"drover.dev/libs/natstest"
)

// publishChain publishes changes at revisions revs, each naming the one before.
func publishChain(t *testing.T, js jetstream.JetStream, revs ...int64) {
	t.Helper()
	prev := int64(0)
	for _, rev := range revs {
		data, err := proto.Marshal(&buspb.Event{Type: buspb.EventType_EVENT_TYPE_ADDED, Resource: "configmaps", Namespace: "default",
			Name: fmt.Sprint("cm-", rev), ResourceVersion: rev, PreviousRevision: prev, Object: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: EventSubject("", "configmaps", "default", fmt.Sprint("cm-", rev)), Data: data, Header: nats.Header{}}
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
	ns := natstest.Start(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
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
