package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// Subjects filter the stream, e.g. ResourceSubject("", "pods", "") or NodePodsSubject(node).
	Subjects []string
	// Decode turns an event's object (JSON, resourceVersion set) into a typed object.
	Decode func([]byte) (runtime.Object, error)
	// Match keeps the objects the watcher wants (label or field selectors the
	// subjects cannot express); nil keeps all.
	Match func(runtime.Object) bool
}

// ListWatch lists through the apiserver and watches through the bus from
// the listed resourceVersion: the state comes from etcd, the bus only tells
// what changed since. Any doubt (a gap, a NATS disconnect, a consumer
// restart) ends the watch, and the reflector lists again.
type ListWatch struct {
	JS jetstream.JetStream
	// ListFunc lists through the apiserver (a clientset's List).
	ListFunc func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	Source   Source
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
	stream, err := lw.JS.Stream(ctx, lw.Source.Stream)
	if err != nil {
		return nil, err
	}
	startSeq, err := SeqAfter(ctx, stream, from)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	cons, err := lw.JS.CreateConsumer(cctx, lw.Source.Stream, jetstream.ConsumerConfig{
		FilterSubjects:    lw.Source.Subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       startSeq,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	w := &busWatch{conn: lw.JS.Conn(), ch: make(chan watch.Event, 100), cancel: cancel, done: make(chan struct{})}
	go w.run(cctx, cons, lw.Source, from)
	return w, nil
}

// SeqAfter finds the first stream sequence whose revision is above rev,
// and refuses with ErrGap when the stream no longer holds everything after rev.
func SeqAfter(ctx context.Context, stream jetstream.Stream, rev int64) (uint64, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	st := info.State
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
	conn   *nats.Conn
	ch     chan watch.Event
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
}

func (w *busWatch) ResultChan() <-chan watch.Event { return w.ch }

func (w *busWatch) Stop() {
	w.once.Do(func() { w.cancel() })
	<-w.done
}

func (w *busWatch) run(ctx context.Context, cons jetstream.Consumer, src Source, from int64) {
	defer close(w.done)
	defer close(w.ch)
	// A lost consumer shows as missing heartbeats; a NATS disconnect may
	// lose deliveries: either ends the watch.
	msgs, err := cons.Messages(jetstream.PullHeartbeat(2*time.Second), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return
	}
	defer msgs.Stop()
	status := w.conn.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer w.conn.RemoveStatusListener(status)
	go func() {
		select {
		case <-ctx.Done():
		case <-status:
		}
		msgs.Stop()
	}()
	var lastConsumerSeq uint64
	last := from
	for {
		msg, err := msgs.Next()
		if err != nil {
			return // stopped, or the consumer went away: the reflector re-lists
		}
		md, err := msg.Metadata()
		if err != nil {
			return
		}
		if lastConsumerSeq != 0 && md.Sequence.Consumer != lastConsumerSeq+1 {
			return // deliveries were lost or the consumer restarted
		}
		lastConsumerSeq = md.Sequence.Consumer
		ev := &buspb.Event{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			return
		}
		if ev.Type == buspb.EventType_EVENT_TYPE_UNSPECIFIED {
			continue // a progress marker
		}
		if ev.ResourceVersion < last {
			continue // from before the start (changes of one revision share it)
		}
		last = ev.ResourceVersion
		out, ok, err := convert(ev, src)
		if err != nil {
			return
		}
		if !ok {
			continue
		}
		select {
		case w.ch <- out:
		case <-ctx.Done():
			return
		}
	}
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
