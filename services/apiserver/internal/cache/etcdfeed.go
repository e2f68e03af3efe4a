package cache

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"drover.dev/apiserver/internal/storage"
)

// etcdFeed follows etcd with one watch on the whole prefix.
type etcdFeed struct {
	store *storage.Store

	mu   sync.Mutex
	wctx context.Context // the running watch, for progress requests
}

func (f *etcdFeed) Follow(ctx context.Context, rev int64, sink Sink) error {
	// Own gRPC stream (etcd groups watches by outgoing metadata): progress
	// requests are only answered when every watch on a stream is synced, and
	// fallback watches replaying old revisions must not hold ours back.
	wctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(ctx), "drover-watch", "cache"))
	defer cancel()
	wch := f.store.Client.Watch(wctx, f.store.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1),
		clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	f.setWatch(wctx)
	defer f.setWatch(nil)
	for wresp := range wch {
		if err := wresp.Err(); err != nil {
			return err
		}
		if wresp.IsProgressNotify() {
			sink.Progress(wresp.Header.Revision)
			continue
		}
		changes := make([]Change, 0, len(wresp.Events))
		for _, e := range wresp.Events {
			changes = append(changes, ChangeOf(e))
		}
		sink.Apply(changes, wresp.Header.Revision)
	}
	return fmt.Errorf("cache: watch channel closed")
}

// ChangeOf reads an etcd watch event (with its previous value) as a Change.
func ChangeOf(e *clientv3.Event) Change {
	ch := Change{Key: string(e.Kv.Key), ModRevision: e.Kv.ModRevision, Deleted: e.Type == clientv3.EventTypeDelete}
	if !ch.Deleted {
		ch.Value = e.Kv.Value
	}
	if e.PrevKv != nil {
		ch.Prev, ch.PrevRev = e.PrevKv.Value, e.PrevKv.ModRevision
	}
	return ch
}

func (f *etcdFeed) setWatch(wctx context.Context) {
	f.mu.Lock()
	f.wctx = wctx
	f.mu.Unlock()
}

// RequestProgress makes etcd report the watch's revision; rev is implied.
func (f *etcdFeed) RequestProgress(int64) {
	f.mu.Lock()
	wctx := f.wctx
	f.mu.Unlock()
	if wctx != nil {
		_ = f.store.Client.RequestProgress(wctx)
	}
}

// ready reports whether a watch runs that can take progress requests.
func (f *etcdFeed) ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wctx != nil
}
