package storage

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultLeaseReuse is how long one etcd lease serves every object written
// with the same TTL, as kube-apiserver reuses leases for a minute: events
// would otherwise cost etcd a lease each.
const DefaultLeaseReuse = time.Minute

// leaseCache hands out the lease objects with a TTL are written with. A
// lease is granted for ttl+reuse and handed out for reuse after that, so
// every object lives at least ttl.
type leaseCache struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	ttl     time.Duration
	granted time.Time
}

func (l *leaseCache) get(ctx context.Context, client *clientv3.Client, ttl, reuse time.Duration) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.id != 0 && l.ttl == ttl && now.Sub(l.granted) < reuse {
		return l.id, nil
	}
	resp, err := client.Grant(ctx, int64((ttl + reuse + time.Second - 1).Seconds()))
	if err != nil {
		return 0, err
	}
	l.id, l.ttl, l.granted = resp.ID, ttl, now
	return l.id, nil
}

// forget drops id so that the next write takes a new lease.
func (l *leaseCache) forget(id clientv3.LeaseID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id == id {
		l.id = 0
	}
}
