package buspublisher

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// window is how many messages may await their acknowledgement. One ack at
// a time caps the bus at a round trip per message; a window lets it keep up
// with etcd's write rate.
const window = 1024

// stallTimeout ends publishing when the oldest message is not acknowledged
// in that time; the publisher then restarts from the stream's last message.
const stallTimeout = 30 * time.Second

// acks tracks the messages in flight, oldest first.
type acks struct {
	pending []inFlight
}

type inFlight struct {
	future  jetstream.PubAckFuture
	subject string
}

func (a *acks) full() bool { return len(a.pending) >= window }

func (a *acks) add(f jetstream.PubAckFuture, subject string) {
	a.pending = append(a.pending, inFlight{future: f, subject: subject})
}

// next returns the channels that settle the oldest message (nil when none
// is in flight, which blocks forever in a select).
func (a *acks) next() (<-chan *jetstream.PubAck, <-chan error) {
	if len(a.pending) == 0 {
		return nil, nil
	}
	return a.pending[0].future.Ok(), a.pending[0].future.Err()
}

// done records the oldest message's outcome.
func (a *acks) done(err error) error {
	m := a.pending[0]
	a.pending[0] = inFlight{}
	a.pending = a.pending[1:]
	if len(a.pending) == 0 {
		a.pending = nil // let the backing array go
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.subject, err)
	}
	return nil
}

// settle takes every outcome already known, oldest first, without waiting.
func (a *acks) settle() error {
	for len(a.pending) > 0 {
		ok, errc := a.next()
		select {
		case <-ok:
			_ = a.done(nil)
		case err := <-errc:
			return a.done(err)
		default:
			return nil
		}
	}
	return nil
}

// wait blocks until the oldest message settles.
func (a *acks) wait(ctx context.Context) error {
	ok, errc := a.next()
	if ok == nil {
		return nil
	}
	timer := time.NewTimer(stallTimeout)
	defer timer.Stop()
	select {
	case <-ok:
		return a.done(nil)
	case err := <-errc:
		return a.done(err)
	case <-timer.C:
		return a.done(fmt.Errorf("no acknowledgement in %s", stallTimeout))
	case <-ctx.Done():
		return ctx.Err()
	}
}
