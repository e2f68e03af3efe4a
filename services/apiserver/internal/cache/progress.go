package cache

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// progressRequester batches the etcd round trips that fresh reads need:
// concurrent readers share one current-revision read that started after
// they arrived, so each still gets a linearizable answer.
type progressRequester struct {
	cache *Cache

	mu       sync.Mutex
	pending  *revisionBatch // collecting readers, not started yet
	inflight bool

	wmu       sync.Mutex
	client    *clientv3.Client
	wctx      context.Context
	askedAt   int64
	askedWhen time.Time
}

type revisionBatch struct {
	done chan struct{}
	rev  int64
	err  error
}

func (p *progressRequester) currentRevision(ctx context.Context) (int64, error) {
	p.mu.Lock()
	if p.pending == nil {
		p.pending = &revisionBatch{done: make(chan struct{})}
	}
	b := p.pending
	if !p.inflight {
		p.startLocked()
	}
	p.mu.Unlock()
	select {
	case <-b.done:
		return b.rev, b.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (p *progressRequester) startLocked() {
	b := p.pending
	p.pending = nil
	p.inflight = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5e9)
		b.rev, b.err = p.cache.store.CurrentRevision(ctx)
		cancel()
		close(b.done)
		p.mu.Lock()
		p.inflight = false
		if p.pending != nil {
			p.startLocked()
		}
		p.mu.Unlock()
	}()
}

func (p *progressRequester) setWatcher(client *clientv3.Client, wctx context.Context) {
	p.wmu.Lock()
	p.client, p.wctx = client, wctx
	p.wmu.Unlock()
}

// request asks etcd to report the watch's revision; however many readers
// wait, one request per cache revision is sent (again after a second, should
// etcd not have been able to answer).
func (p *progressRequester) request() {
	rev := p.cache.Revision()
	p.wmu.Lock()
	client, wctx := p.client, p.wctx
	if client == nil || p.askedAt == rev && time.Since(p.askedWhen) < time.Second {
		p.wmu.Unlock()
		return
	}
	p.askedAt, p.askedWhen = rev, time.Now()
	p.wmu.Unlock()
	go func() { _ = client.RequestProgress(wctx) }()
}
