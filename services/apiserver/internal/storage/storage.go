// Package storage keeps API objects in etcd under /registry/<resource>/<namespace>/<name>.
// Every write is a compare-and-swap on the key's mod revision, which is the
// object's resourceVersion; the stored bytes never carry a resourceVersion.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Sentinel errors of the storage layer; callers translate them to API status errors.
var (
	// ErrNotFound means the key does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists means a create found the key already present.
	ErrExists = errors.New("storage: already exists")
	// ErrConflict means the key's revision is not the expected one.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted means the requested revision is older than etcd's history.
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrFutureRevision means the requested revision is newer than etcd's.
	ErrFutureRevision = errors.New("storage: revision in the future")
)

// Store reads and writes objects in etcd.
type Store struct {
	Client *clientv3.Client
	// Prefix is the key prefix of all objects, "/registry" by default.
	Prefix string
	// LeaseReuse is how long one etcd lease serves every object written
	// with the same TTL (DefaultLeaseReuse when zero; negative: one lease
	// a write).
	LeaseReuse time.Duration

	leases leaseCache
}

// New returns a store over client with the given key prefix.
func New(client *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = "/registry"
	}
	return &Store{Client: client, Prefix: strings.TrimSuffix(prefix, "/")}
}

// Key is the etcd key of an object; namespace is empty for cluster-scoped objects.
func (s *Store) Key(resource, namespace, name string) string {
	if namespace == "" {
		return s.Prefix + "/" + resource + "/" + name
	}
	return s.Prefix + "/" + resource + "/" + namespace + "/" + name
}

// ListPrefix is the key prefix of a resource's objects, optionally in one namespace.
func (s *Store) ListPrefix(resource, namespace string) string {
	if namespace == "" {
		return s.Prefix + "/" + resource + "/"
	}
	return s.Prefix + "/" + resource + "/" + namespace + "/"
}

// KV is one stored object.
type KV struct {
	Key   string
	Value []byte
	// ModRevision is the object's resourceVersion.
	ModRevision int64
}

// Get reads one key at the latest revision (a linearizable read).
func (s *Store) Get(ctx context.Context, key string) (*KV, error) {
	resp, err := s.Client.Get(ctx, key)
	if err != nil {
		return nil, translate(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	kv := resp.Kvs[0]
	return &KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

// CurrentRevision returns etcd's current revision through a linearizable read.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.Client.Get(ctx, s.Prefix+"/\x00revision-probe", clientv3.WithCountOnly())
	if err != nil {
		return 0, translate(err)
	}
	return resp.Header.Revision, nil
}

// Create writes key if it does not exist, together with extra operations
// (allocation records) in the same transaction. It returns the new revision.
func (s *Store) Create(ctx context.Context, key string, value []byte, extra ...clientv3.Op) (int64, error) {
	return s.CreateTTL(ctx, key, value, 0, extra...)
}

// CreateTTL is Create for an object etcd deletes on its own between ttl
// and ttl+LeaseReuse after this write (events); ttl 0 keeps it.
func (s *Store) CreateTTL(ctx context.Context, key string, value []byte, ttl time.Duration, extra ...clientv3.Op) (int64, error) {
	created := withClaims(clientv3.Compare(clientv3.CreateRevision(key), "=", 0), extra)
	return s.put(ctx, key, value, ttl, created, ErrExists, extra)
}

// Update replaces key if its mod revision is still expectedRevision, with
// extra operations in the same transaction. It returns the new revision.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64, extra ...clientv3.Op) (int64, error) {
	return s.UpdateTTL(ctx, key, value, expectedRevision, 0, extra...)
}

// UpdateTTL is Update that also moves the object's expiry to ttl from now
// (as CreateTTL); ttl 0 keeps it for good.
func (s *Store) UpdateTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration, extra ...clientv3.Op) (int64, error) {
	unchanged := withClaims(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision), extra)
	return s.put(ctx, key, value, ttl, unchanged, ErrConflict, extra)
}

// put writes key with extra in one transaction if cmps hold, else fails
// with failed. A write with a ttl that finds its reused lease gone (etcd
// lost or revoked it) takes a new one and tries once more.
func (s *Store) put(ctx context.Context, key string, value []byte, ttl time.Duration, cmps []clientv3.Cmp, failed error, extra []clientv3.Op) (int64, error) {
	for attempt := 0; ; attempt++ {
		var opts []clientv3.OpOption
		var lease clientv3.LeaseID
		if ttl > 0 {
			var err error
			if lease, err = s.leases.get(ctx, s.Client, ttl, s.leaseReuse()); err != nil {
				return 0, translate(err)
			}
			opts = append(opts, clientv3.WithLease(lease))
		}
		resp, err := s.Client.Txn(ctx).If(cmps...).
			Then(append([]clientv3.Op{clientv3.OpPut(key, string(value), opts...)}, extra...)...).Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			s.leases.forget(lease)
			continue
		}
		if err != nil {
			return 0, translate(err)
		}
		if !resp.Succeeded {
			return 0, failed
		}
		return resp.Header.Revision, nil
	}
}

func (s *Store) leaseReuse() time.Duration {
	if s.LeaseReuse == 0 {
		return DefaultLeaseReuse
	}
	return max(s.LeaseReuse, 0)
}

// Delete removes key if its mod revision is still expectedRevision, with extra
// operations (releasing allocations) in the same transaction.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64, extra ...clientv3.Op) (int64, error) {
	ops := append([]clientv3.Op{clientv3.OpDelete(key)}, extra...)
	resp, err := s.Client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision)).
		Then(ops...).Commit()
	if err != nil {
		return 0, translate(err)
	}
	if !resp.Succeeded {
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// ListResult is one page of a range read.
type ListResult struct {
	KVs []KV
	// Revision is the snapshot the page was read at.
	Revision int64
	// More is set when keys remain after the last one returned.
	More bool
	// Count is the number of keys in the range from start on.
	Count int64
}

// List reads keys in [start, end of prefix) at revision rev (0 = latest),
// at most limit keys (0 = all).
func (s *Store) List(ctx context.Context, prefix, start string, rev, limit int64) (*ListResult, error) {
	if start == "" {
		start = prefix
	}
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix))}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(limit))
	}
	resp, err := s.Client.Get(ctx, start, opts...)
	if err != nil {
		return nil, translate(err)
	}
	out := &ListResult{Revision: resp.Header.Revision, More: resp.More, Count: resp.Count}
	if rev > 0 {
		out.Revision = rev
	}
	out.KVs = make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out.KVs[i] = KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
	}
	return out, nil
}

// Compact discards history up to rev (used by tests and maintenance).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.Client.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return translate(err)
}

// withClaims adds to cmp the guard that every key extra puts (allocation
// records) does not exist yet: two objects never share an IP or a port.
func withClaims(cmp clientv3.Cmp, extra []clientv3.Op) []clientv3.Cmp {
	cmps := []clientv3.Cmp{cmp}
	for _, op := range extra {
		if op.IsPut() {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(string(op.KeyBytes())), "=", 0))
		}
	}
	return cmps
}

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %v", ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %v", ErrFutureRevision, err)
	}
	return err
}
