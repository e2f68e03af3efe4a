package storage_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"drover.dev/apiserver/internal/storage"
	"drover.dev/libs/etcdtest"
)

// newStore starts an embedded etcd and returns a store over it with the
// default /registry prefix. Both are torn down when the test ends.
func newStore(t *testing.T) *storage.Store {
	t.Helper()
	srv := etcdtest.Start(t)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{srv.ClientURL},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return storage.New(cli, "")
}

// mustCreate creates key and returns its revision.
func mustCreate(t *testing.T, s *storage.Store, key, value string, extra ...clientv3.Op) int64 {
	t.Helper()
	rev, err := s.Create(t.Context(), key, []byte(value), extra...)
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	return rev
}

// wantValue checks that key holds value at revision rev (0: any revision).
func wantValue(t *testing.T, s *storage.Store, key, value string, rev int64) {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if string(kv.Value) != value {
		t.Errorf("Get(%s) = %q, want %q", key, kv.Value, value)
	}
	if kv.Key != key {
		t.Errorf("Get(%s).Key = %q", key, kv.Key)
	}
	if rev != 0 && kv.ModRevision != rev {
		t.Errorf("Get(%s).ModRevision = %d, want %d", key, kv.ModRevision, rev)
	}
}

// wantAbsent checks that key does not exist.
func wantAbsent(t *testing.T, s *storage.Store, key string) {
	t.Helper()
	if kv, err := s.Get(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(%s) = %v, %v; want ErrNotFound", key, kv, err)
	}
}

func TestKeyLayout(t *testing.T) {
	tests := []struct {
		name                string
		prefix              string
		resource, ns, obj   string
		wantKey, wantPrefix string
	}{
		{"default prefix namespaced", "", "pods", "default", "web", "/registry/pods/default/web", "/registry/pods/default/"},
		{"default prefix cluster-scoped", "", "nodes", "", "n1", "/registry/nodes/n1", "/registry/nodes/"},
		{"trailing slash trimmed", "/custom/", "configmaps", "kube-system", "c", "/custom/configmaps/kube-system/c", "/custom/configmaps/kube-system/"},
		{"explicit prefix", "/registry", "namespaces", "", "default", "/registry/namespaces/default", "/registry/namespaces/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storage.New(nil, tt.prefix)
			if got := s.Key(tt.resource, tt.ns, tt.obj); got != tt.wantKey {
				t.Errorf("Key = %q, want %q", got, tt.wantKey)
			}
			if got := s.ListPrefix(tt.resource, tt.ns); got != tt.wantPrefix {
				t.Errorf("ListPrefix = %q, want %q", got, tt.wantPrefix)
			}
		})
	}
}

func TestCompareAndSwap(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	const key = "/registry/configmaps/default/cm"

	created := mustCreate(t, s, key, "v1")
	wantValue(t, s, key, "v1", created)

	if _, err := s.Create(ctx, key, []byte("again")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	wantValue(t, s, key, "v1", created)

	// Stale and future revisions both conflict and leave the value alone.
	for _, rev := range []int64{created - 1, created + 1, 0} {
		if _, err := s.Update(ctx, key, []byte("stale"), rev); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("Update at revision %d (current %d) = %v, want ErrConflict", rev, created, err)
		}
	}
	wantValue(t, s, key, "v1", created)

	updated, err := s.Update(ctx, key, []byte("v2"), created)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated <= created {
		t.Fatalf("Update revision %d not after create revision %d", updated, created)
	}
	wantValue(t, s, key, "v2", updated)

	// The create revision is no longer the object's version.
	if _, err := s.Update(ctx, key, []byte("v3"), created); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update at the old revision = %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, key, created); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete at the old revision = %v, want ErrConflict", err)
	}
	wantValue(t, s, key, "v2", updated)

	deleted, err := s.Delete(ctx, key, updated)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if deleted <= updated {
		t.Fatalf("Delete revision %d not after update revision %d", deleted, updated)
	}
	wantAbsent(t, s, key)

	// A deleted key is gone for compare-and-swap too, and can be created anew.
	if _, err := s.Update(ctx, key, []byte("ghost"), updated); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update of a deleted key = %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, key, updated); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete of a deleted key = %v, want ErrConflict", err)
	}
	wantAbsent(t, s, key)
	recreated := mustCreate(t, s, key, "v4")
	wantValue(t, s, key, "v4", recreated)
}

func TestAllocationOps(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	const (
		svcA   = "/registry/services/default/a"
		svcB   = "/registry/services/default/b"
		ipKey  = "/registry/ranges/serviceips/10.96.0.10"
		ipKey2 = "/registry/ranges/serviceips/10.96.0.11"
	)

	rev := mustCreate(t, s, svcA, "a", clientv3.OpPut(ipKey, svcA))
	// Object and allocation are one transaction: one revision.
	wantValue(t, s, svcA, "a", rev)
	wantValue(t, s, ipKey, svcA, rev)

	// A second service claiming the same IP fails and writes nothing.
	if _, err := s.Create(ctx, svcB, []byte("b"), clientv3.OpPut(ipKey, svcB)); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Create with a taken allocation = %v, want ErrExists", err)
	}
	wantAbsent(t, s, svcB)
	wantValue(t, s, ipKey, svcA, rev)

	// Also when only one of several claims is taken.
	if _, err := s.Create(ctx, svcB, []byte("b"), clientv3.OpPut(ipKey2, svcB), clientv3.OpPut(ipKey, svcB)); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Create with one taken allocation = %v, want ErrExists", err)
	}
	wantAbsent(t, s, svcB)
	wantAbsent(t, s, ipKey2)

	// An update claiming a taken key conflicts and writes nothing.
	mustCreate(t, s, ipKey2, "/registry/services/default/other")
	if _, err := s.Update(ctx, svcA, []byte("a2"), rev, clientv3.OpPut(ipKey2, svcA)); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update with a taken allocation = %v, want ErrConflict", err)
	}
	wantValue(t, s, svcA, "a", rev)
	if _, err := s.Delete(ctx, ipKey2, 0); err == nil {
		// ModRevision 0 never matches an existing key.
		t.Fatalf("Delete of an existing key at revision 0 succeeded")
	}
	kv, err := s.Get(ctx, ipKey2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, ipKey2, kv.ModRevision); err != nil {
		t.Fatalf("Delete: %v", err)
	}

	// Moving to a free IP: claim the new key and release the old one at once.
	moved, err := s.Update(ctx, svcA, []byte("a2"), rev, clientv3.OpPut(ipKey2, svcA), clientv3.OpDelete(ipKey))
	if err != nil {
		t.Fatalf("Update moving the allocation: %v", err)
	}
	wantValue(t, s, svcA, "a2", moved)
	wantValue(t, s, ipKey2, svcA, moved)
	wantAbsent(t, s, ipKey)

	// Deleting the object releases its allocation in the same transaction.
	if _, err := s.Delete(ctx, svcA, moved, clientv3.OpDelete(ipKey2)); err != nil {
		t.Fatalf("Delete with release: %v", err)
	}
	wantAbsent(t, s, svcA)
	wantAbsent(t, s, ipKey2)

	// A failed delete releases nothing.
	rev = mustCreate(t, s, svcB, "b", clientv3.OpPut(ipKey, svcB))
	if _, err := s.Delete(ctx, svcB, rev-1, clientv3.OpDelete(ipKey)); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete at a stale revision = %v, want ErrConflict", err)
	}
	wantValue(t, s, ipKey, svcB, rev)
}

func TestList(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	revs := map[string]int64{}
	keys := []string{
		"/registry/pods/a/p1", "/registry/pods/a/p2", "/registry/pods/a/p3",
		"/registry/pods/b/p1", "/registry/pods/b/p2",
		"/registry/podsx/a/p1",    // shares "/registry/pods" but not "/registry/pods/"
		"/registry/services/a/s1", // another resource
	}
	for _, k := range keys {
		revs[k] = mustCreate(t, s, k, "v:"+k)
	}
	snapshot, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		prefix   string
		start    string
		limit    int64
		wantKeys []string
		wantMore bool
		// wantCount is every key from start to the end of the prefix, whatever the limit.
		wantCount int64
	}{
		{"whole resource", "/registry/pods/", "", 0, []string{"/registry/pods/a/p1", "/registry/pods/a/p2", "/registry/pods/a/p3", "/registry/pods/b/p1", "/registry/pods/b/p2"}, false, 5},
		{"one namespace", "/registry/pods/b/", "", 0, []string{"/registry/pods/b/p1", "/registry/pods/b/p2"}, false, 2},
		{"limit leaves more", "/registry/pods/", "", 2, []string{"/registry/pods/a/p1", "/registry/pods/a/p2"}, true, 5},
		{"limit equal to size", "/registry/pods/a/", "", 3, []string{"/registry/pods/a/p1", "/registry/pods/a/p2", "/registry/pods/a/p3"}, false, 3},
		{"limit above size", "/registry/pods/a/", "", 10, []string{"/registry/pods/a/p1", "/registry/pods/a/p2", "/registry/pods/a/p3"}, false, 3},
		{"start is inclusive", "/registry/pods/", "/registry/pods/a/p3", 0, []string{"/registry/pods/a/p3", "/registry/pods/b/p1", "/registry/pods/b/p2"}, false, 3},
		{"start after a key", "/registry/pods/", "/registry/pods/a/p3\x00", 1, []string{"/registry/pods/b/p1"}, true, 2},
		{"start past the end", "/registry/pods/", "/registry/pods/c", 0, nil, false, 0},
		{"empty prefix", "/registry/nothing/", "", 0, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.List(ctx, tt.prefix, tt.start, 0, tt.limit)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := kvKeys(page.KVs); fmt.Sprint(got) != fmt.Sprint(tt.wantKeys) {
				t.Errorf("keys = %q, want %q", got, tt.wantKeys)
			}
			if page.More != tt.wantMore {
				t.Errorf("More = %v, want %v", page.More, tt.wantMore)
			}
			if page.Count != tt.wantCount {
				t.Errorf("Count = %d, want %d", page.Count, tt.wantCount)
			}
			if page.Revision != snapshot {
				t.Errorf("Revision = %d, want the current revision %d", page.Revision, snapshot)
			}
			for _, kv := range page.KVs {
				if string(kv.Value) != "v:"+kv.Key || kv.ModRevision != revs[kv.Key] {
					t.Errorf("%s = %q at %d, want %q at %d", kv.Key, kv.Value, kv.ModRevision, "v:"+kv.Key, revs[kv.Key])
				}
			}
		})
	}
}

func kvKeys(kvs []storage.KV) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.Key)
	}
	return out
}

// TestListPagingAtRevision pages through a prefix at a fixed revision the way
// continue tokens do, while the data changes underneath: every page must show
// the snapshot, not the new state.
func TestListPagingAtRevision(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	const prefix = "/registry/configmaps/ns/"
	var want []string
	for i := range 7 {
		k := fmt.Sprintf("%scm%02d", prefix, i)
		mustCreate(t, s, k, "old")
		want = append(want, k)
	}

	first, err := s.List(ctx, prefix, "", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := first.Revision

	// Change everything after the first page was read.
	for _, k := range want {
		kv, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, k, []byte("new"), kv.ModRevision); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, s, prefix+"cm99", "new")
	if _, err := s.Delete(ctx, want[6], mustGet(t, s, want[6]).ModRevision); err != nil {
		t.Fatal(err)
	}

	got := kvKeys(first.KVs)
	page := first
	pages := 1
	for page.More {
		start := page.KVs[len(page.KVs)-1].Key + "\x00"
		page, err = s.List(ctx, prefix, start, snapshot, 3)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		if page.Revision != snapshot {
			t.Fatalf("page %d Revision = %d, want the snapshot %d", pages+1, page.Revision, snapshot)
		}
		for _, kv := range page.KVs {
			if string(kv.Value) != "old" {
				t.Errorf("%s = %q at the snapshot, want %q", kv.Key, kv.Value, "old")
			}
		}
		got = append(got, kvKeys(page.KVs)...)
		pages++
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged keys = %q, want %q", got, want)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3 (3+3+1)", pages)
	}

	latest, err := s.List(ctx, prefix, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(latest.KVs); n != 7 {
		t.Errorf("latest list has %d keys, want 7 (one deleted, one added)", n)
	}
	if latest.Revision <= snapshot {
		t.Errorf("latest Revision %d not after the snapshot %d", latest.Revision, snapshot)
	}
}

func mustGet(t *testing.T, s *storage.Store, key string) *storage.KV {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return kv
}

func TestRevisionErrors(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	const prefix = "/registry/secrets/ns/"
	old := mustCreate(t, s, prefix+"a", "1")
	kv := mustGet(t, s, prefix+"a")
	newer, err := s.Update(ctx, prefix+"a", []byte("2"), kv.ModRevision)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, newer); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	tests := []struct {
		name    string
		rev     int64
		wantErr error
	}{
		{"compacted revision", old, storage.ErrCompacted},
		{"revision one", 1, storage.ErrCompacted},
		{"compaction revision itself", newer, nil},
		{"future revision", newer + 1000, storage.ErrFutureRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.List(ctx, prefix, "", tt.rev, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("List at %d = %v, want %v", tt.rev, err, tt.wantErr)
			}
			if tt.wantErr == nil && (len(page.KVs) != 1 || string(page.KVs[0].Value) != "2") {
				t.Errorf("List at %d = %+v, want the updated key", tt.rev, page.KVs)
			}
		})
	}
}

func TestCurrentRevision(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	start, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev := mustCreate(t, s, "/registry/leases/ns/l", "x")
	if rev <= start {
		t.Fatalf("create revision %d not after %d", rev, start)
	}
	if got, err := s.CurrentRevision(ctx); err != nil || got != rev {
		t.Fatalf("CurrentRevision = %d, %v; want the create revision %d", got, err, rev)
	}

	// Writes outside the prefix move etcd's revision too.
	resp, err := s.Client.Put(ctx, "/elsewhere/key", "v")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.CurrentRevision(ctx); err != nil || got != resp.Header.Revision {
		t.Fatalf("CurrentRevision = %d, %v; want %d after a foreign write", got, err, resp.Header.Revision)
	}

	// Failed compare-and-swaps do not.
	if _, err := s.Create(ctx, "/registry/leases/ns/l", []byte("y")); !errors.Is(err, storage.ErrExists) {
		t.Fatal(err)
	}
	if got, err := s.CurrentRevision(ctx); err != nil || got != resp.Header.Revision {
		t.Fatalf("CurrentRevision = %d, %v after a failed create; want %d", got, err, resp.Header.Revision)
	}
}

// leaseOf is the etcd lease key is attached to (0: none).
func leaseOf(t *testing.T, s *storage.Store, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := s.Client.Get(t.Context(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Get(%s): %v, %d keys", key, err, len(resp.Kvs))
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// Objects written with a TTL share one lease within the reuse window and
// are gone after it runs out; an update moves the expiry; objects without
// a TTL stay.
func TestTTL(t *testing.T) {
	s := newStore(t)
	s.LeaseReuse = time.Hour
	ttl := 3 * time.Second
	if _, err := s.CreateTTL(t.Context(), "/registry/events/ns/a", []byte("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTTL(t.Context(), "/registry/events/ns/b", []byte("b"), time.Hour); err != nil {
		t.Fatal(err)
	}
	la, lb := leaseOf(t, s, "/registry/events/ns/a"), leaseOf(t, s, "/registry/events/ns/b")
	if la == 0 || la != lb {
		t.Fatalf("leases %x and %x, want one shared lease", la, lb)
	}
	ttlResp, err := s.Client.TimeToLive(t.Context(), la)
	if err != nil || ttlResp.GrantedTTL < int64((time.Hour+s.LeaseReuse).Seconds()) {
		t.Fatalf("lease granted for %d s (%v), want at least ttl + reuse", ttlResp.GrantedTTL, err)
	}

	s.LeaseReuse = -1 // a lease a write: the expiry is exactly the ttl
	if _, err := s.CreateTTL(t.Context(), "/registry/events/ns/short", []byte("1"), ttl); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "/registry/pods/ns/kept", "p")
	if l := leaseOf(t, s, "/registry/pods/ns/kept"); l != 0 {
		t.Fatalf("object without a TTL has lease %x", l)
	}
	// Updated after 2 s with a fresh TTL, it outlives the first expiry.
	time.Sleep(2 * time.Second)
	kv := mustGet(t, s, "/registry/events/ns/short")
	if _, err := s.UpdateTTL(t.Context(), "/registry/events/ns/short", []byte("2"), kv.ModRevision, ttl); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	wantValue(t, s, "/registry/events/ns/short", "2", 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get(t.Context(), "/registry/events/ns/short")
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event still there 10 s after its TTL ran out: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantValue(t, s, "/registry/pods/ns/kept", "p", 0)
}

// A write whose reused lease was revoked takes a new one.
func TestTTLLeaseRevoked(t *testing.T) {
	s := newStore(t)
	if _, err := s.CreateTTL(t.Context(), "/registry/events/ns/a", []byte("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	la := leaseOf(t, s, "/registry/events/ns/a")
	if _, err := s.Client.Revoke(t.Context(), la); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTTL(t.Context(), "/registry/events/ns/b", []byte("b"), time.Hour); err != nil {
		t.Fatalf("write after the lease was revoked: %v", err)
	}
	if lb := leaseOf(t, s, "/registry/events/ns/b"); lb == 0 || lb == la {
		t.Fatalf("lease %x after revoking %x, want a new one", lb, la)
	}
}
