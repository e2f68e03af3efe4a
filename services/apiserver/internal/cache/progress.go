package cache

import (
	"context"
	"sync"
	"time"
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

// request asks the feed to confirm it has delivered everything up to rev;
// however many readers wait, one request per cache revision is sent (again
// after a second, should the feed not have been able to answer).
func (p *progressRequester) request(rev int64) {
	feed := p.cache.feed
	if r, ok := feed.(interface{ ready() bool }); ok && !r.ready() {
		return
	}
	cur := p.cache.Revision()
	p.wmu.Lock()
	if p.askedAt == cur && time.Since(p.askedWhen) < time.Second {
		p.wmu.Unlock()
		return
	}
	p.askedAt, p.askedWhen = cur, time.Now()
	p.wmu.Unlock()
	go feed.RequestProgress(rev)
}
