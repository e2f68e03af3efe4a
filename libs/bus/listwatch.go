package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"drover.dev/libs/bus/buspb"
)

// Errors ending a bus watch; the reflector then re-lists from the apiserver.
var (
	// ErrGap means events may have been missed (retention, consumer restart).
	ErrGap = errors.New("bus: gap in the event stream")
)

// Source says which slice of the bus a ListerWatcher follows.
type Source struct {
	// Stream is EventsStream or NodesStream.
	Stream string
	// Subject filters the stream, e.g. ResourceSubject("", "pods", "") or NodePodsSubject(node).
	Subject string
	// Decode turns an event's object (JSON, resourceVersion set) into a typed object.
	Decode func([]byte) (runtime.Object, error)
	// Match keeps the objects the watcher wants (label or field selectors the
	// subjects cannot express); nil keeps all.
	Match func(runtime.Object) bool
}

// ListWatch lists through the apiserver and watches through the bus from
// the listed resourceVersion: the state comes from etcd, the bus only tells
// what changed since. Any doubt (a gap, a NATS disconnect, a stream reset)
// ends the watch, and the reflector lists again.
//
// A watch reads what the stream already holds after the resourceVersion
// through a short-lived JetStream consumer, then follows the stream's
// republished copy (LiveSubject) on a plain NATS subscription: the server
// then sends each change to a watcher as one message, not through a
// consumer of its own.
type ListWatch struct {
	JS jetstream.JetStream
	// ListFunc lists through the apiserver (a clientset's List).
	ListFunc func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	Source   Source
	// PendingLimit is how many changes a watch may hold unread before it
	// ends with a gap (0: the NATS client's default, 512 Ki).
	PendingLimit int
}

var (
	_ cache.ListerWatcher            = &ListWatch{}
	_ cache.ListerWatcherWithContext = &ListWatch{}
)

// ListWithContext lists through the apiserver.
func (lw *ListWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListFunc(ctx, opts)
}

// List lists through the apiserver.
func (lw *ListWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListFunc(context.Background(), opts)
}

// Watch follows the bus from opts.ResourceVersion.
func (lw *ListWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(context.Background(), opts)
}

// WatchWithContext follows the bus from opts.ResourceVersion.
func (lw *ListWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	from, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
	if err != nil || from <= 0 {
		// Streaming lists and "any version" watches need the apiserver.
		return nil, fmt.Errorf("bus: watch needs a resourceVersion from a list, got %q", opts.ResourceVersion)
	}
	nc := lw.JS.Conn()
	cctx, cancel := context.WithCancel(ctx)
	w := &busWatch{ch: make(chan watch.Event, 100), ctx: cctx, cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}), src: lw.Source, from: from, last: from}
	// A disconnect may lose live changes: listen for it before subscribing.
	status := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	// Subscribe first: whatever the stream stores from now on arrives here.
	sub, err := nc.Subscribe(LiveSubject(lw.Source.Subject), w.live)
	if err == nil && lw.PendingLimit > 0 {
		err = sub.SetPendingLimits(lw.PendingLimit, -1)
	}
	if err == nil {
		fctx, fcancel := context.WithTimeout(cctx, 10*time.Second)
		err = nc.FlushWithContext(fctx)
		fcancel()
	}
	if err != nil {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
		nc.RemoveStatusListener(status)
		cancel()
		return nil, err
	}
	w.sub = sub
	// The subscription is in place: what the stream holds up to now is
	// read through the catch-up, the rest arrives live.
	stream, err := lw.JS.Stream(cctx, lw.Source.Stream)
	var start uint64
	var st jetstream.StreamState
	if err == nil {
		st = stream.CachedInfo().State
		start, err = seqAfter(cctx, stream, st, from)
	}
	if err != nil {
		nc.RemoveStatusListener(status)
		close(w.ready)
		w.finish()
		return nil, err
	}
	w.seq = st.LastSeq
	w.stream = stream
	go w.run(nc, status, lw.JS, start)
	return w, nil
}

// LiveSubject is where the streams republish a stored change on subject.
func LiveSubject(subject string) string {
	return LiveSubjectPrefix + "." + strings.TrimPrefix(subject, "drover.")
}

// ConsumerFrom configures an ephemeral consumer of subjects from stream
// sequence start: nothing acknowledged, its state in memory, and gone a
// minute after its reader.
func ConsumerFrom(start uint64, subjects ...string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	}
}

// SeqAfter finds the first stream sequence whose revision is above rev,
// and refuses with ErrGap when the stream no longer holds everything after rev.
func SeqAfter(ctx context.Context, stream jetstream.Stream, rev int64) (uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return seqAfter(ctx, stream, info.State, rev)
}

func seqAfter(ctx context.Context, stream jetstream.Stream, st jetstream.StreamState, rev int64) (uint64, error) {
	if st.Msgs == 0 {
		return st.LastSeq + 1, nil
	}
	revAt := func(seq uint64) (*buspb.Event, error) {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		ev := &buspb.Event{}
		return ev, proto.Unmarshal(m.Data, ev)
	}
	first, err := revAt(st.FirstSeq)
	if err != nil {
		return 0, err
	}
	if first.ResourceVersion > rev && first.PreviousRevision > rev {
		// Changes between rev and the oldest message were dropped by retention.
		return 0, fmt.Errorf("%w: the stream starts after revision %d", ErrGap, rev)
	}
	lo, hi := st.FirstSeq, st.LastSeq+1 // first seq with revision > rev lies in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		ev, err := revAt(mid)
		if err != nil {
			// Deleted messages inside the range: step past them.
			lo = mid + 1
			continue
		}
		if ev.ResourceVersion > rev {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

type busWatch struct {
	ch     chan watch.Event
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	src    Source
	stream jetstream.Stream
	from   int64
	sub    *nats.Subscription

	// ready is closed when the catch-up is over; live deliveries wait for it.
	ready chan struct{}
	// seq is the last stream sequence handled, last the last revision
	// delivered; the catch-up writes them before ready, live after.
	seq  uint64
	last int64
	// followed is set once a live change was handled: from then on the
	// sequence only grows.
	followed bool

	mu     sync.Mutex
	ended  bool           // no more live deliveries
	inLive sync.WaitGroup // a live delivery in progress
}

func (w *busWatch) ResultChan() <-chan watch.Event { return w.ch }

func (w *busWatch) Stop() {
	w.once.Do(func() { w.cancel() })
	<-w.done
}

// catchUp delivers the stream's messages from sequence start up to w.seq,
// those stored before the live subscription started, through an
// ephemeral consumer deleted after. A watch from a fresh list usually has
// nothing to read.
func (w *busWatch) catchUp(js jetstream.JetStream, start uint64) error {
	defer close(w.ready)
	end := w.seq
	if start > end {
		return nil
	}
	ctx := w.ctx
	cons, err := js.CreateConsumer(ctx, w.src.Stream, ConsumerFrom(start, w.src.Subject))
	if err != nil {
		return err
	}
	defer func() { _ = js.DeleteConsumer(context.WithoutCancel(ctx), w.src.Stream, cons.CachedInfo().Name) }()
	if cons.CachedInfo().NumPending == 0 {
		return nil
	}
	msgs, err := cons.Messages(jetstream.PullHeartbeat(2*time.Second), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return err
	}
	defer msgs.Stop()
	defer context.AfterFunc(ctx, msgs.Stop)()
	var consumerSeq uint64
	for {
		msg, err := msgs.Next()
		if err != nil {
			return fmt.Errorf("%w: reading the stream: %v", ErrGap, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if md.Sequence.Consumer != consumerSeq+1 {
			return fmt.Errorf("%w: consumer sequence %d after %d", ErrGap, md.Sequence.Consumer, consumerSeq)
		}
		consumerSeq = md.Sequence.Consumer
		if md.Sequence.Stream > end {
			return nil // stored after the subscription: it arrives live
		}
		if err := w.deliver(msg.Data()); err != nil {
			return err
		}
		if md.NumPending == 0 || md.Sequence.Stream == end {
			return nil
		}
	}
}

// live handles a republished change (the NATS subscription's callback,
// one at a time).
func (w *busWatch) live(m *nats.Msg) {
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return
	}
	w.inLive.Add(1)
	w.mu.Unlock()
	defer w.inLive.Done()
	select {
	case <-w.ready:
	case <-w.ctx.Done():
		return
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		w.cancel()
		return
	}
	if dropLive != nil && dropLive(seq) {
		return
	}
	if seq <= w.seq {
		if w.followed {
			w.cancel() // the stream went back: it was reset
		}
		return // the catch-up read it already
	}
	// On a NATS cluster the subscription reaches the stream leader's server
	// a little after it was flushed to this one: read what the stream
	// stored in between.
	if !w.followed && seq > w.seq+1 {
		if err := w.fill(w.seq+1, seq-1); err != nil {
			w.cancel()
			return
		}
	}
	w.seq, w.followed = seq, true
	if n, _ := w.sub.Dropped(); n > 0 {
		w.cancel() // changes were dropped: the reflector re-lists
		return
	}
	if err := w.deliver(m.Data); err != nil {
		w.cancel()
	}
}

// dropLive, set by tests, loses live messages as a subscription on a NATS
// cluster may just after it started.
var dropLive func(seq uint64) bool

// fill delivers the stream's messages on the watch's subject with
// sequences from to to, asking for each the next one on the subject (there
// is usually none).
func (w *busWatch) fill(from, to uint64) error {
	for seq := from; seq <= to; {
		m, err := w.stream.GetMsg(w.ctx, seq, jetstream.WithGetMsgSubject(w.src.Subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.Sequence > to {
			return nil
		}
		if err := w.deliver(m.Data); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// deliver sends the watch event of one envelope, if the watcher sees one.
func (w *busWatch) deliver(data []byte) error {
	ev := &buspb.Event{}
	if err := proto.Unmarshal(data, ev); err != nil {
		return err
	}
	if ev.Type == buspb.EventType_EVENT_TYPE_UNSPECIFIED {
		return nil // a progress marker
	}
	// The list already holds revision from (the stream may lag behind it);
	// changes of one later revision share it.
	if ev.ResourceVersion <= w.from || ev.ResourceVersion < w.last {
		return nil
	}
	w.last = ev.ResourceVersion
	out, ok, err := convert(ev, w.src)
	if err != nil || !ok {
		return err
	}
	select {
	case w.ch <- out:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// run catches up, then ends the watch when it is stopped, NATS
// disconnects or the client dropped changes it could not hand over in time.
func (w *busWatch) run(nc *nats.Conn, status chan nats.Status, js jetstream.JetStream, start uint64) {
	defer nc.RemoveStatusListener(status)
	if err := w.catchUp(js, start); err != nil {
		w.finish()
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ended := false; !ended; {
		select {
		case <-w.ctx.Done():
			ended = true
		case <-status:
			ended = true
		case <-tick.C:
			n, _ := w.sub.Dropped()
			ended = n > 0
		}
	}
	w.finish()
}

// finish stops live deliveries, waits for one in progress and closes the
// result channel.
func (w *busWatch) finish() {
	w.cancel()
	_ = w.sub.Unsubscribe()
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	w.inLive.Wait()
	close(w.ch)
	close(w.done)
}

// convert turns an envelope into the watch event this watcher sees: an
// object that starts matching is Added, one that stops matching Deleted.
// The object carries the change's revision as its resourceVersion.
func convert(ev *buspb.Event, src Source) (watch.Event, bool, error) {
	obj, err := src.Decode(ev.Object)
	if err != nil {
		return watch.Event{}, false, err
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return watch.Event{}, false, err
	}
	acc.SetResourceVersion(strconv.FormatInt(ev.ResourceVersion, 10))
	match := func(o runtime.Object) bool { return src.Match == nil || src.Match(o) }
	cur := ev.Type != buspb.EventType_EVENT_TYPE_DELETED && match(obj)
	// Without a filter the previous state always matched: decoding it
	// would double the cost of every event.
	prev := len(ev.OldObject) > 0 && src.Match == nil
	if len(ev.OldObject) > 0 && src.Match != nil {
		old, err := src.Decode(ev.OldObject)
		if err != nil {
			return watch.Event{}, false, err
		}
		prev = match(old)
	}
	switch {
	case ev.Type == buspb.EventType_EVENT_TYPE_DELETED && prev:
		return watch.Event{Type: watch.Deleted, Object: obj}, true, nil
	case ev.Type == buspb.EventType_EVENT_TYPE_ADDED && cur:
		return watch.Event{Type: watch.Added, Object: obj}, true, nil
	case cur && prev:
		return watch.Event{Type: watch.Modified, Object: obj}, true, nil
	case cur:
		return watch.Event{Type: watch.Added, Object: obj}, true, nil
	case prev && ev.Type == buspb.EventType_EVENT_TYPE_MODIFIED:
		return watch.Event{Type: watch.Deleted, Object: obj}, true, nil
	}
	return watch.Event{}, false, nil
}
