// Package busfeed feeds the apiserver's object cache from the JetStream
// event bus instead of an etcd watch of its own, so that the cluster needs
// one etcd watch (the publisher's) however many apiserver replicas run.
// Consistent reads ask the publisher for a progress marker: a message on
// the stream vouching that every change up to a revision is on it.
package busfeed

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/libs/bus"
	"drover.dev/libs/bus/buspb"
)

// Feed implements cache.Feed on the events stream.
type Feed struct {
	JS jetstream.JetStream
	// Key builds the etcd key of an object (storage.Store.Key).
	Key func(resource, namespace, name string) string
}

var _ cache.Feed = (*Feed)(nil)

// RequestProgress asks the publisher for a marker at rev or later.
func (f *Feed) RequestProgress(rev int64) {
	_ = f.JS.Conn().Publish(bus.ProgressSubject, []byte(strconv.FormatInt(rev, 10)))
}

// Follow applies every change after rev from the stream. It returns on any
// doubt — a broken previous_revision chain, a lost delivery, a NATS
// disconnect — and the cache then reloads from etcd.
func (f *Feed) Follow(ctx context.Context, rev int64, sink cache.Sink) error {
	stream, err := f.JS.Stream(ctx, bus.EventsStream)
	if err != nil {
		return fmt.Errorf("busfeed: %w", err)
	}
	start, err := bus.SeqAfter(ctx, stream, rev)
	if err != nil {
		return fmt.Errorf("busfeed: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cons, err := f.JS.CreateConsumer(cctx, bus.EventsStream, bus.ConsumerFrom(start, bus.EventsSubject+".>"))
	if err != nil {
		return fmt.Errorf("busfeed: consumer: %w", err)
	}
	msgs, err := cons.Messages(jetstream.PullHeartbeat(2*time.Second), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return fmt.Errorf("busfeed: %w", err)
	}
	defer msgs.Stop()
	status := f.JS.Conn().StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer f.JS.Conn().RemoveStatusListener(status)
	lost := make(chan struct{})
	go func() {
		select {
		case <-cctx.Done():
		case <-status:
			close(lost)
		}
		msgs.Stop()
	}()

	var consumerSeq uint64
	last := int64(-1) // revision of the last change applied; -1: none since rev
	for {
		msg, err := msgs.Next()
		if err != nil {
			select {
			case <-lost:
				return fmt.Errorf("busfeed: NATS connection lost")
			default:
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("busfeed: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("busfeed: %w", err)
		}
		if consumerSeq != 0 && md.Sequence.Consumer != consumerSeq+1 {
			return fmt.Errorf("%w: delivery %d after %d", bus.ErrGap, md.Sequence.Consumer, consumerSeq)
		}
		consumerSeq = md.Sequence.Consumer
		ev := &buspb.Event{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			return fmt.Errorf("busfeed: %w", err)
		}
		// The chain: each message names the change published before it.
		if last < 0 && ev.PreviousRevision > rev || last >= 0 && ev.PreviousRevision != last {
			return fmt.Errorf("%w: previous revision %d, last seen %d (loaded at %d)", bus.ErrGap, ev.PreviousRevision, last, rev)
		}
		if ev.Type == buspb.EventType_EVENT_TYPE_UNSPECIFIED {
			sink.Progress(ev.ResourceVersion)
			continue
		}
		last = ev.ResourceVersion
		if ev.ResourceVersion <= rev {
			continue // in the loaded state already
		}
		ch := cache.Change{
			Key:         f.Key(ev.Resource, ev.Namespace, ev.Name),
			ModRevision: ev.ResourceVersion,
			Deleted:     ev.Type == buspb.EventType_EVENT_TYPE_DELETED,
			Prev:        ev.OldObject,
		}
		if !ch.Deleted {
			if len(ev.Object) == 0 {
				// Too large for the bus: read it, and everything, from etcd.
				return fmt.Errorf("busfeed: %s/%s/%s came without its object", ev.Resource, ev.Namespace, ev.Name)
			}
			ch.Value = ev.Object
		}
		sink.Apply([]cache.Change{ch}, ev.ResourceVersion)
	}
}
