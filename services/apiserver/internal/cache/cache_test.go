package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/endpoints"
	"drover.dev/apiserver/internal/storage"
	"drover.dev/libs/etcdtest"
)

// waitTimeout bounds every wait for the cache. The embedded etcd answers in
// milliseconds, but with the module's other packages (integration tests
// with their own etcd and apiservers) sharing 2 cores, one wait took over
// 5 s (TestEventFrame, once).
const waitTimeout = 15 * time.Second

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
	return storage.New(cli, "/registry")
}

// startCache runs a cache over store until the test ends and waits for its
// initial load.
func startCache(t *testing.T, store *storage.Store, opts cache.Options) *cache.Cache {
	t.Helper()
	return startCacheWith(t, store, endpoints.Parse, opts)
}

func startCacheWith(t *testing.T, store *storage.Store, parse cache.Parser, opts cache.Options) *cache.Cache {
	t.Helper()
	c := cache.New(store, parse, zap.NewNop(), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-c.Ready():
	case <-time.After(waitTimeout):
		t.Fatal("cache did not load")
	}
	return c
}

type podOpt func(*corev1.Pod)

func withLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func onNode(node string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = node } }

// podJSON is a pod as the apiserver stores it: typed JSON, kind first, no resourceVersion.
func podJSON(t *testing.T, ns, name string, opts ...podOpt) []byte {
	t.Helper()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, o := range opts {
		o(p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func podKey(ns, name string) string { return "/registry/pods/" + ns + "/" + name }

func create(t *testing.T, s *storage.Store, key string, value []byte) int64 {
	t.Helper()
	rev, err := s.Create(t.Context(), key, value)
	if err != nil {
		t.Fatalf("Create(%s): %v", key, err)
	}
	return rev
}

func update(t *testing.T, s *storage.Store, key string, value []byte) int64 {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	rev, err := s.Update(t.Context(), key, value, kv.ModRevision)
	if err != nil {
		t.Fatalf("Update(%s): %v", key, err)
	}
	return rev
}

func remove(t *testing.T, s *storage.Store, key string) int64 {
	t.Helper()
	kv, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	rev, err := s.Delete(t.Context(), key, kv.ModRevision)
	if err != nil {
		t.Fatalf("Delete(%s): %v", key, err)
	}
	return rev
}

// waitRev waits until the cache has applied rev.
func waitRev(t *testing.T, c *cache.Cache, rev int64) {
	t.Helper()
	if err := c.WaitForRevision(t.Context(), rev, waitTimeout); err != nil {
		t.Fatalf("WaitForRevision(%d): %v (cache at %d)", rev, err, c.Revision())
	}
}

func itemKeys(items []*cache.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

func labelMatch(t *testing.T, sel string) func(*cache.Item) bool {
	t.Helper()
	s, err := labels.Parse(sel)
	if err != nil {
		t.Fatal(err)
	}
	return func(it *cache.Item) bool { return s.Matches(it.Labels) }
}

func TestRunLoadsExisting(t *testing.T) {
	s := newStore(t)
	want := map[string]int64{
		podKey("a", "p1"): create(t, s, podKey("a", "p1"), podJSON(t, "a", "p1", withLabels("app", "web"))),
		podKey("a", "p2"): create(t, s, podKey("a", "p2"), podJSON(t, "a", "p2")),
		podKey("b", "p1"): create(t, s, podKey("b", "p1"), podJSON(t, "b", "p1")),
	}
	cmRev := create(t, s, "/registry/configmaps/a/c1", []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c1","namespace":"a"}}`))
	create(t, s, podKey("a", "broken"), []byte("not json"))
	create(t, s, "/registry/ranges/serviceips/10.96.0.1", []byte("/registry/services/default/kubernetes"))
	last := create(t, s, "/outside/the/prefix", []byte("x"))

	c := startCache(t, s, cache.Options{Skip: []string{"ranges"}})
	if got := c.Revision(); got < last {
		t.Errorf("Revision after load = %d, want at least %d", got, last)
	}
	if n := c.Count("pods"); n != 3 {
		t.Errorf("Count(pods) = %d, want 3 (the undecodable object is skipped)", n)
	}
	if n := c.Count("configmaps"); n != 1 {
		t.Errorf("Count(configmaps) = %d, want 1", n)
	}
	if n := c.Count("ranges"); n != 0 {
		t.Errorf("Count(ranges) = %d, want 0", n)
	}
	for key, rev := range want {
		it, cacheRev := c.Get("pods", key)
		if it == nil {
			t.Errorf("Get(%s) = nil", key)
			continue
		}
		if it.RV != rev || cacheRev != c.Revision() {
			t.Errorf("Get(%s) RV = %d, cache revision %d; want %d, %d", key, it.RV, cacheRev, rev, c.Revision())
		}
		ns, name, _ := strings.Cut(strings.TrimPrefix(key, "/registry/pods/"), "/")
		if it.Namespace != ns || it.Name != name || it.Key != key {
			t.Errorf("Get(%s) = %s %s/%s", key, it.Key, it.Namespace, it.Name)
		}
		if it.Fields.Get("metadata.name") != name {
			t.Errorf("Get(%s) field metadata.name = %q", key, it.Fields.Get("metadata.name"))
		}
	}
	if it, _ := c.Get("pods", podKey("a", "p1")); it == nil || it.Labels["app"] != "web" {
		t.Errorf("labels not extracted: %+v", it)
	}
	if it, _ := c.Get("configmaps", "/registry/configmaps/a/c1"); it == nil || it.RV != cmRev {
		t.Errorf("configmap = %+v, want RV %d", it, cmRev)
	}
	for _, tc := range []struct{ resource, key string }{
		{"pods", podKey("a", "broken")},
		{"pods", podKey("a", "missing")},
		{"secrets", "/registry/secrets/a/s"},
		{"ranges", "/registry/ranges/serviceips/10.96.0.1"},
	} {
		if it, _ := c.Get(tc.resource, tc.key); it != nil {
			t.Errorf("Get(%s, %s) = %+v, want nil", tc.resource, tc.key, it)
		}
	}
}

// TestFollowsWrites: after a write returns, WaitFresh makes the cache show
// it, without polling.
func TestFollowsWrites(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	ctx := t.Context()
	key := podKey("ns", "p")

	// Each step writes and returns its revision; wantRV says which step's
	// revision key p must carry afterwards.
	var revs []int64
	steps := []struct {
		name      string
		write     func() int64
		wantNode  string
		wantRV    int // index into revs
		wantGone  bool
		wantCount int
	}{
		{"create", func() int64 { return create(t, s, key, podJSON(t, "ns", "p", onNode("n1"))) }, "n1", 0, false, 1},
		{"update", func() int64 { return update(t, s, key, podJSON(t, "ns", "p", onNode("n2"))) }, "n2", 1, false, 1},
		{"create another", func() int64 { return create(t, s, podKey("ns", "q"), podJSON(t, "ns", "q")) }, "n2", 1, false, 2},
		{"delete", func() int64 { return remove(t, s, key) }, "", 0, true, 1},
		{"recreate", func() int64 { return create(t, s, key, podJSON(t, "ns", "p", onNode("n3"))) }, "n3", 4, false, 2},
	}
	for _, st := range steps {
		rev := st.write()
		revs = append(revs, rev)
		fresh, err := c.WaitFresh(ctx)
		if err != nil {
			t.Fatalf("%s: WaitFresh: %v", st.name, err)
		}
		if fresh < rev {
			t.Fatalf("%s: WaitFresh = %d, before the write at %d", st.name, fresh, rev)
		}
		it, cacheRev := c.Get("pods", key)
		if cacheRev < rev {
			t.Errorf("%s: cache revision %d before the write at %d", st.name, cacheRev, rev)
		}
		switch {
		case st.wantGone && it != nil:
			t.Errorf("%s: Get = %+v, want nil", st.name, it)
		case !st.wantGone && it == nil:
			t.Errorf("%s: Get = nil", st.name)
		case !st.wantGone:
			if it.RV != revs[st.wantRV] || it.Fields.Get("spec.nodeName") != st.wantNode {
				t.Errorf("%s: Get RV %d node %q, want RV %d node %q", st.name, it.RV, it.Fields.Get("spec.nodeName"), revs[st.wantRV], st.wantNode)
			}
		}
		if n := c.Count("pods"); n != st.wantCount {
			t.Errorf("%s: Count = %d, want %d", st.name, n, st.wantCount)
		}
	}
}

// TestWaitFreshAfterForeignWrite: writes outside the prefix move etcd's
// revision without an event for the cache; WaitFresh must still return.
func TestWaitFreshAfterForeignWrite(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	// Once an event has arrived the cache's watch is up (see
	// TestWaitFreshRightAfterReady for the moment before).
	waitRev(t, c, create(t, s, podKey("ns", "p"), podJSON(t, "ns", "p")))
	for i := range 3 {
		resp, err := s.Client.Put(t.Context(), fmt.Sprintf("/elsewhere/%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := c.WaitFresh(t.Context())
		if err != nil {
			t.Fatalf("WaitFresh after a foreign write: %v (cache at %d, etcd at %d)", err, c.Revision(), resp.Header.Revision)
		}
		if fresh < resp.Header.Revision || c.Revision() < resp.Header.Revision {
			t.Fatalf("WaitFresh = %d, cache at %d; want at least %d", fresh, c.Revision(), resp.Header.Revision)
		}
	}
}

// TestWaitFreshRightAfterReady: a consistent read right after the cache
// reports ready must not time out because etcd's revision moved outside the
// prefix. The window is a race, so the test tries a few fresh caches.
func TestWaitFreshRightAfterReady(t *testing.T) {
	s := newStore(t)
	for i := range 20 {
		c := startCache(t, s, cache.Options{})
		resp, err := s.Client.Put(t.Context(), fmt.Sprintf("/elsewhere/%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitFresh(t.Context()); err != nil {
			t.Fatalf("attempt %d: WaitFresh right after Ready: %v (cache at %d, etcd at %d)", i, err, c.Revision(), resp.Header.Revision)
		}
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	var last int64
	for _, p := range []struct{ ns, name, app string }{
		{"a", "p1", "web"}, {"a", "p2", "db"}, {"a", "p3", "web"}, {"a", "p4", "web"},
		{"b", "p1", "web"}, {"b", "p2", "db"},
		{"ab", "p1", "web"}, // shares "/registry/pods/a" but not "/registry/pods/a/"
	} {
		last = create(t, s, podKey(p.ns, p.name), podJSON(t, p.ns, p.name, withLabels("app", p.app)))
	}
	create(t, s, "/registry/configmaps/a/p1", []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"p1","namespace":"a"}}`))
	c := startCache(t, s, cache.Options{})
	waitRev(t, c, last)

	web := labelMatch(t, "app=web")
	tests := []struct {
		name     string
		resource string
		prefix   string
		startKey string
		match    func(*cache.Item) bool
		limit    int
		want     []string
		wantMore bool
	}{
		{name: "all pods", resource: "pods", prefix: "/registry/pods/",
			want: []string{podKey("a", "p1"), podKey("a", "p2"), podKey("a", "p3"), podKey("a", "p4"), podKey("ab", "p1"), podKey("b", "p1"), podKey("b", "p2")}},
		{name: "one namespace", resource: "pods", prefix: "/registry/pods/a/",
			want: []string{podKey("a", "p1"), podKey("a", "p2"), podKey("a", "p3"), podKey("a", "p4")}},
		{name: "selector", resource: "pods", prefix: "/registry/pods/a/", match: web,
			want: []string{podKey("a", "p1"), podKey("a", "p3"), podKey("a", "p4")}},
		{name: "limit with more", resource: "pods", prefix: "/registry/pods/a/", limit: 2,
			want: []string{podKey("a", "p1"), podKey("a", "p2")}, wantMore: true},
		{name: "limit equal to the matches", resource: "pods", prefix: "/registry/pods/a/", match: web, limit: 3,
			want: []string{podKey("a", "p1"), podKey("a", "p3"), podKey("a", "p4")}},
		{name: "limit with more matches", resource: "pods", prefix: "/registry/pods/a/", match: web, limit: 2,
			want: []string{podKey("a", "p1"), podKey("a", "p3")}, wantMore: true},
		{name: "no more when only non-matching remain", resource: "pods", prefix: "/registry/pods/b/", match: web, limit: 1,
			want: []string{podKey("b", "p1")}},
		{name: "startKey is exclusive", resource: "pods", prefix: "/registry/pods/a/", startKey: podKey("a", "p2"),
			want: []string{podKey("a", "p3"), podKey("a", "p4")}},
		{name: "startKey between keys", resource: "pods", prefix: "/registry/pods/a/", startKey: podKey("a", "p2") + "\x00",
			want: []string{podKey("a", "p3"), podKey("a", "p4")}},
		{name: "startKey with selector and limit", resource: "pods", prefix: "/registry/pods/", startKey: podKey("a", "p3"), match: web, limit: 2,
			want: []string{podKey("a", "p4"), podKey("ab", "p1")}, wantMore: true},
		{name: "startKey at the last key", resource: "pods", prefix: "/registry/pods/a/", startKey: podKey("a", "p4"),
			want: []string{}},
		{name: "other resource", resource: "configmaps", prefix: "/registry/configmaps/", want: []string{"/registry/configmaps/a/p1"}},
		{name: "unknown resource", resource: "secrets", prefix: "/registry/secrets/", want: []string{}},
		{name: "nothing matches", resource: "pods", prefix: "/registry/pods/", match: labelMatch(t, "app=none"), limit: 1, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, rev, more := c.List(tt.resource, tt.prefix, tt.startKey, tt.match, tt.limit)
			if got := itemKeys(items); !slices.Equal(got, tt.want) {
				t.Errorf("keys = %q, want %q", got, tt.want)
			}
			if more != tt.wantMore {
				t.Errorf("more = %v, want %v", more, tt.wantMore)
			}
			if rev != c.Revision() {
				t.Errorf("revision = %d, want the cache revision %d", rev, c.Revision())
			}
		})
	}

	// What a page leaves for the next ones (remainingItemCount).
	for _, tt := range []struct {
		name, resource, prefix, key string
		want                        int
	}{
		{"after a key", "pods", "/registry/pods/", podKey("a", "p2"), 5},
		{"within a namespace", "pods", "/registry/pods/a/", podKey("a", "p2"), 2},
		{"after the last key", "pods", "/registry/pods/a/", podKey("a", "p4"), 0},
		{"from the prefix itself", "pods", "/registry/pods/b/", "/registry/pods/b/", 2},
		{"unknown resource", "secrets", "/registry/secrets/", "/registry/secrets/a", 0},
	} {
		if got := c.CountAfter(tt.resource, tt.prefix, tt.key); got != tt.want {
			t.Errorf("CountAfter %s: %d, want %d", tt.name, got, tt.want)
		}
	}

	// Paging with the last key as startKey visits every match once.
	var paged []string
	start := ""
	for range 10 {
		items, _, more := c.List("pods", "/registry/pods/", start, web, 2)
		paged = append(paged, itemKeys(items)...)
		if !more {
			break
		}
		start = items[len(items)-1].Key
	}
	all, _, _ := c.List("pods", "/registry/pods/", "", web, 0)
	if !slices.Equal(paged, itemKeys(all)) {
		t.Errorf("paged = %q, want %q", paged, itemKeys(all))
	}
}

func TestWaitForRevision(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	cur := c.Revision()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		rev     int64
		timeout time.Duration
		wantErr error
	}{
		{"reached", t.Context(), cur, time.Second, nil},
		{"older", t.Context(), 1, time.Second, nil},
		{"future times out", t.Context(), cur + 1000, 200 * time.Millisecond, cache.ErrTimeout},
		{"cancelled context", cancelled, cur + 1000, time.Second, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := c.WaitForRevision(tt.ctx, tt.rev, tt.timeout)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WaitForRevision(%d) = %v, want %v", tt.rev, err, tt.wantErr)
			}
			if errors.Is(tt.wantErr, cache.ErrTimeout) && time.Since(start) < tt.timeout {
				t.Errorf("timed out after %v, before the %v timeout", time.Since(start), tt.timeout)
			}
		})
	}

	t.Run("write arrives while waiting", func(t *testing.T) {
		want := c.Revision() + 1
		errc := make(chan error, 1)
		go func() { errc <- c.WaitForRevision(t.Context(), want, waitTimeout) }()
		create(t, s, podKey("ns", "late"), podJSON(t, "ns", "late"))
		if err := <-errc; err != nil {
			t.Fatalf("WaitForRevision(%d): %v", want, err)
		}
	})
}

// TestWaitForRevisionBlocks: a waiter must block, not spin: waiting out a
// timeout should cost next to no CPU.
func TestWaitForRevisionBlocks(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	const timeout = 500 * time.Millisecond
	before := cpuTime(t)
	if err := c.WaitForRevision(t.Context(), c.Revision()+1000, timeout); !errors.Is(err, cache.ErrTimeout) {
		t.Fatalf("WaitForRevision = %v, want ErrTimeout", err)
	}
	if used := cpuTime(t) - before; used > timeout/2 {
		t.Errorf("waiting %v for a revision used %v of CPU: the wait spins", timeout, used)
	}
}

// cpuTime is the CPU the test process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestWatchNotReady(t *testing.T) {
	c := cache.New(storage.New(nil, "/registry"), endpoints.Parse, nil, cache.Options{})
	if _, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/"}); !errors.Is(err, cache.ErrNotReady) {
		t.Fatalf("Watch before the load = %v, want ErrNotReady", err)
	}
}

// received holds, per watcher, events taken but not yet looked at, and
// whether the watcher has ended.
var received struct {
	sync.Mutex
	events map[*cache.Watcher][]cache.Event
	ended  map[*cache.Watcher]bool
}

// recv returns w's next live event within d: ok is false when the watcher
// has ended with nothing left, timedOut when nothing came.
func recv(w *cache.Watcher, d time.Duration) (ev cache.Event, ok, timedOut bool) {
	received.Lock()
	defer received.Unlock()
	if received.events == nil {
		received.events, received.ended = map[*cache.Watcher][]cache.Event{}, map[*cache.Watcher]bool{}
	}
	deadline := time.After(d)
	for {
		if q := received.events[w]; len(q) > 0 {
			received.events[w] = q[1:]
			return q[0], true, false
		}
		if received.ended[w] {
			return cache.Event{}, false, false
		}
		select {
		case <-w.Ready():
			evs, ended := w.Take(nil)
			received.events[w] = append(received.events[w], evs...)
			received.ended[w] = received.ended[w] || ended
		case <-deadline:
			return cache.Event{}, false, true
		}
	}
}

// nextEvent returns the watcher's next live event.
func nextEvent(t *testing.T, w *cache.Watcher) cache.Event {
	t.Helper()
	ev, ok, timedOut := recv(w, waitTimeout)
	if timedOut {
		t.Fatal("no event")
	}
	if !ok {
		t.Fatal("watcher closed")
	}
	return ev
}

type wantEvent struct {
	typ watch.EventType
	key string
	rv  int64
	app string // label of Obj, "" to skip the check
}

func checkEvent(t *testing.T, i int, got cache.Event, want wantEvent) {
	t.Helper()
	if got.Type != want.typ || got.Obj == nil || got.Obj.Key != want.key || got.RV != want.rv {
		key := ""
		if got.Obj != nil {
			key = got.Obj.Key
		}
		t.Errorf("event %d = %s %s at %d, want %s %s at %d", i, got.Type, key, got.RV, want.typ, want.key, want.rv)
		return
	}
	if want.app != "" && got.Obj.Labels["app"] != want.app {
		t.Errorf("event %d object has app=%s, want app=%s", i, got.Obj.Labels["app"], want.app)
	}
	if got.Type == watch.Added && got.Prev != nil {
		t.Errorf("event %d: Added with a previous state", i)
	}
	if got.Type == watch.Modified && got.Prev == nil {
		t.Errorf("event %d: Modified without a previous state", i)
	}
}

func TestWatchInitialState(t *testing.T) {
	s := newStore(t)
	r1 := create(t, s, podKey("a", "p1"), podJSON(t, "a", "p1", withLabels("app", "web")))
	create(t, s, podKey("a", "p2"), podJSON(t, "a", "p2", withLabels("app", "db")))
	r3 := create(t, s, podKey("a", "p3"), podJSON(t, "a", "p3", withLabels("app", "web")))
	create(t, s, podKey("b", "p1"), podJSON(t, "b", "p1", withLabels("app", "web")))
	c := startCache(t, s, cache.Options{})

	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/a/", Match: labelMatch(t, "app=web"), InitialState: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if w.StartRV != c.Revision() {
		t.Errorf("StartRV = %d, want the cache revision %d", w.StartRV, c.Revision())
	}
	want := []wantEvent{{watch.Added, podKey("a", "p1"), r1, "web"}, {watch.Added, podKey("a", "p3"), r3, "web"}}
	if len(w.Initial) != len(want) {
		t.Fatalf("Initial has %d events, want %d", len(w.Initial), len(want))
	}
	for i := range want {
		checkEvent(t, i, w.Initial[i], want[i])
	}

	// Live: only the namespace and the selector get through.
	create(t, s, podKey("b", "p9"), podJSON(t, "b", "p9", withLabels("app", "web")))
	create(t, s, podKey("a", "p8"), podJSON(t, "a", "p8", withLabels("app", "db")))
	rev := create(t, s, podKey("a", "p9"), podJSON(t, "a", "p9", withLabels("app", "web")))
	checkEvent(t, 0, nextEvent(t, w), wantEvent{watch.Added, podKey("a", "p9"), rev, "web"})

	// InitialState wins over FromRV.
	w2, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", InitialState: true, FromRV: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if len(w2.Initial) != 7 {
		t.Errorf("Initial of a whole-resource watch has %d events, want 7", len(w2.Initial))
	}

	// A resource with no objects yet starts empty and follows its first write.
	w3, err := c.Watch(cache.WatchRequest{Resource: "secrets", Prefix: "/registry/secrets/", InitialState: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Stop()
	if len(w3.Initial) != 0 {
		t.Errorf("Initial of an empty resource = %d events", len(w3.Initial))
	}
	rev = create(t, s, "/registry/secrets/a/s", []byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","namespace":"a"}}`))
	checkEvent(t, 0, nextEvent(t, w3), wantEvent{watch.Added, "/registry/secrets/a/s", rev, ""})
}

// transitions writes a pod through a selector's edge and returns what a
// watcher with app=web must see.
func transitions(t *testing.T, s *storage.Store) []wantEvent {
	t.Helper()
	key := podKey("ns", "p")
	var want []wantEvent
	rev := create(t, s, key, podJSON(t, "ns", "p", withLabels("app", "web")))
	want = append(want, wantEvent{watch.Added, key, rev, "web"})
	rev = update(t, s, key, podJSON(t, "ns", "p", withLabels("app", "web"), onNode("n1")))
	want = append(want, wantEvent{watch.Modified, key, rev, "web"})
	rev = update(t, s, key, podJSON(t, "ns", "p", withLabels("app", "db"), onNode("n1")))
	// Stops matching: Deleted, carrying the last state that matched.
	want = append(want, wantEvent{watch.Deleted, key, rev, "web"})
	update(t, s, key, podJSON(t, "ns", "p", withLabels("app", "db"), onNode("n2"))) // invisible
	create(t, s, podKey("ns", "other"), podJSON(t, "ns", "other", withLabels("app", "db")))
	remove(t, s, podKey("ns", "other")) // never matched: invisible
	rev = update(t, s, key, podJSON(t, "ns", "p", withLabels("app", "web"), onNode("n2")))
	// Starts matching: Added.
	want = append(want, wantEvent{watch.Added, key, rev, "web"})
	rev = remove(t, s, key)
	want = append(want, wantEvent{watch.Deleted, key, rev, "web"})
	return want
}

func TestWatchSelectorTransitions(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", Match: labelMatch(t, "app=web"), FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	from := w.StartRV
	want := transitions(t, s)
	for i, we := range want {
		checkEvent(t, i, nextEvent(t, w), we)
	}

	// Resuming from before the changes replays the same view from history.
	replay, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", Match: labelMatch(t, "app=web"), FromRV: from})
	if err != nil {
		t.Fatalf("Watch from %d: %v", from, err)
	}
	defer replay.Stop()
	if len(replay.Initial) != len(want) {
		t.Fatalf("replay has %d events, want %d", len(replay.Initial), len(want))
	}
	for i, we := range want {
		checkEvent(t, i, replay.Initial[i], we)
	}
}

func TestWatchFromRV(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	r1 := create(t, s, podKey("ns", "a"), podJSON(t, "ns", "a"))
	r2 := create(t, s, podKey("ns", "b"), podJSON(t, "ns", "b"))
	r3 := update(t, s, podKey("ns", "a"), podJSON(t, "ns", "a", onNode("n1")))
	create(t, s, podKey("other", "x"), podJSON(t, "other", "x"))
	r5 := remove(t, s, podKey("ns", "b"))
	waitRev(t, c, r5)

	all := []wantEvent{
		{watch.Added, podKey("ns", "a"), r1, ""},
		{watch.Added, podKey("ns", "b"), r2, ""},
		{watch.Modified, podKey("ns", "a"), r3, ""},
		{watch.Deleted, podKey("ns", "b"), r5, ""},
	}
	tests := []struct {
		name string
		from int64
		want []wantEvent
	}{
		{"before everything", r1 - 1, all},
		{"after the first", r1, all[1:]},
		{"after the update", r3, all[3:]},
		{"at the last event", r5, nil},
		{"at the cache revision", c.Revision(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", FromRV: tt.from})
			if err != nil {
				t.Fatalf("Watch from %d: %v", tt.from, err)
			}
			defer w.Stop()
			if len(w.Initial) != len(tt.want) {
				t.Fatalf("Initial has %d events, want %d", len(w.Initial), len(tt.want))
			}
			for i, we := range tt.want {
				checkEvent(t, i, w.Initial[i], we)
			}
			if w.StartRV != c.Revision() {
				t.Errorf("StartRV = %d, want %d", w.StartRV, c.Revision())
			}
		})
	}

	// Live events continue after the replayed ones.
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/ns/", FromRV: r3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r6 := create(t, s, podKey("ns", "c"), podJSON(t, "ns", "c"))
	checkEvent(t, 0, nextEvent(t, w), wantEvent{watch.Added, podKey("ns", "c"), r6, ""})
}

func TestWatchTooOld(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{HistorySize: 3})
	var revs []int64
	for i := range 5 {
		revs = append(revs, create(t, s, podKey("ns", fmt.Sprint(i)), podJSON(t, "ns", fmt.Sprint(i))))
	}
	waitRev(t, c, revs[4])

	// The ring holds the last three events (revs[2..4]): resuming is possible
	// from revs[1] on, not before.
	tests := []struct {
		name      string
		from      int64
		wantErr   error
		wantCount int
	}{
		{"evicted long ago", revs[0] - 1, cache.ErrTooOld, 0},
		{"evicted", revs[0], cache.ErrTooOld, 0},
		{"oldest resumable", revs[1], nil, 3},
		{"inside the ring", revs[3], nil, 1},
		{"current", revs[4], nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: tt.from})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Watch from %d = %v, want %v", tt.from, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer w.Stop()
			if len(w.Initial) != tt.wantCount {
				t.Errorf("Initial has %d events, want %d", len(w.Initial), tt.wantCount)
			}
		})
	}
}

// Events older than the history window go once a hundred are held:
// resuming from before them is for etcd.
func TestWatchHistoryWindow(t *testing.T) {
	s := newStore(t)
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := startCache(t, s, cache.Options{HistoryWindow: time.Minute, Now: clock})
	var revs []int64
	for i := range 150 {
		revs = append(revs, create(t, s, podKey("ns", fmt.Sprint(i)), podJSON(t, "ns", fmt.Sprint(i))))
	}
	waitRev(t, c, revs[149])
	resume := func(from int64) (int, error) {
		w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: from})
		if err != nil {
			return 0, err
		}
		defer w.Stop()
		return len(w.Initial), nil
	}
	if n, err := resume(revs[0]); err != nil || n != 149 {
		t.Fatalf("resuming inside the window: %d events, %v; want 149", n, err)
	}

	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	last := create(t, s, podKey("ns", "late"), podJSON(t, "ns", "late"))
	waitRev(t, c, last)
	// The newest 99 old events and the new one are left.
	if _, err := resume(revs[49]); !errors.Is(err, cache.ErrTooOld) {
		t.Fatalf("resuming from a dropped event: %v, want ErrTooOld", err)
	}
	if n, err := resume(revs[50]); err != nil || n != 100 {
		t.Fatalf("resuming from the oldest kept: %d events, %v; want 100", n, err)
	}
}

// An update's Prev is the object the cache held, not a second copy of it.
func TestEventPrevIsCachedObject(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	key := podKey("ns", "a")
	r1 := create(t, s, key, podJSON(t, "ns", "a"))
	waitRev(t, c, r1)
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: r1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	update(t, s, key, podJSON(t, "ns", "a", withLabels("v", "2")))
	update(t, s, key, podJSON(t, "ns", "a", withLabels("v", "3")))
	e2, e3 := nextEvent(t, w), nextEvent(t, w)
	if e2.Prev == nil || e2.Prev.RV != r1 {
		t.Fatalf("first update's Prev = %+v, want the created object at %d", e2.Prev, r1)
	}
	if e3.Prev != e2.Obj {
		t.Fatal("second update's Prev is a copy, not the object the first update left")
	}
}

// A watcher's queue grows with what it has not taken: a thousand watchers
// with nothing queued cost far less than a preallocated buffer each
// (1,000 events, ~48 KB).
func TestIdleWatchersAreCheap(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	// Signed: other tests' garbage collected meanwhile can make it shrink.
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	ws := make([]*cache.Watcher, 1000)
	for i := range ws {
		w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: c.Revision()})
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	rev := create(t, s, podKey("ns", "p"), podJSON(t, "ns", "p"))
	waitRev(t, c, rev)
	for _, w := range ws {
		checkEvent(t, 0, nextEvent(t, w), wantEvent{watch.Added, podKey("ns", "p"), rev, ""})
	}
	if grown := heap() - before; grown > 4<<20 {
		t.Errorf("1,000 watchers took %d KB of heap, want under 4 MB", grown>>10)
	}
	for _, w := range ws {
		w.Stop()
	}
}

func TestSlowWatcherClosed(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{WatcherBuffer: 2})
	slow, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	// A watcher of another resource is not held back by pods.
	idle, err := c.Watch(cache.WatchRequest{Resource: "secrets", Prefix: "/registry/secrets/", FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Stop()

	var last int64
	for i := range 5 {
		last = create(t, s, podKey("ns", fmt.Sprint(i)), podJSON(t, "ns", fmt.Sprint(i)))
	}
	waitRev(t, c, last)

	// The buffer holds what fit; then the watcher ends.
	got := 0
	for {
		_, ok, timedOut := recv(slow, waitTimeout)
		if timedOut {
			t.Fatal("slow watcher neither delivered nor ended")
		}
		if !ok {
			break
		}
		got++
	}
	if got != 2 {
		t.Errorf("slow watcher got %d events before closing, want the buffer's 2", got)
	}
	slow.Stop() // stopping a closed watcher is harmless

	rev := create(t, s, "/registry/secrets/ns/s", []byte(`{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","namespace":"ns"}}`))
	checkEvent(t, 0, nextEvent(t, idle), wantEvent{watch.Added, "/registry/secrets/ns/s", rev, ""})
}

func TestWatchStop(t *testing.T) {
	s := newStore(t)
	c := startCache(t, s, cache.Options{})
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Stop()
	rev := create(t, s, podKey("ns", "p"), podJSON(t, "ns", "p"))
	waitRev(t, c, rev)
	if ev, ok, _ := recv(w, waitTimeout); ok {
		t.Errorf("stopped watcher got %+v", ev)
	}
}

// TestRunEndClosesWatchers: when Run returns, open watches end so HTTP
// watchers return to their clients.
func TestRunEndClosesWatchers(t *testing.T) {
	s := newStore(t)
	c := cache.New(s, endpoints.Parse, nil, cache.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-c.Ready():
	case <-time.After(waitTimeout):
		t.Fatal("cache did not load")
	}
	w, err := c.Watch(cache.WatchRequest{Resource: "pods", Prefix: "/registry/pods/", FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context ended")
	}
	if _, ok, timedOut := recv(w, waitTimeout); timedOut {
		t.Error("watcher not ended when Run returned")
	} else if ok {
		t.Error("got an event, want the watcher ended")
	}
}

// recordingParser remembers the resources it was asked to parse.
type recordingParser struct {
	mu        sync.Mutex
	resources map[string]bool
}

func (p *recordingParser) parse(resource, key string, value []byte, rv int64) (*cache.Item, error) {
	p.mu.Lock()
	p.resources[resource] = true
	p.mu.Unlock()
	return endpoints.Parse(resource, key, value, rv)
}

func (p *recordingParser) saw(resource string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resources[resource]
}

func TestSkip(t *testing.T) {
	s := newStore(t)
	// Even decodable JSON under a skipped segment is not an object.
	decodable := []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}`)
	create(t, s, "/registry/ranges/serviceips/10.96.0.10", decodable)
	p := &recordingParser{resources: map[string]bool{}}
	c := startCacheWith(t, s, p.parse, cache.Options{Skip: []string{"ranges"}})

	w, err := c.Watch(cache.WatchRequest{Resource: "ranges", Prefix: "/registry/ranges/", FromRV: c.Revision()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	create(t, s, "/registry/ranges/servicenodeports/tcp/30080", decodable)
	remove(t, s, "/registry/ranges/serviceips/10.96.0.10")
	rev := create(t, s, podKey("ns", "p"), podJSON(t, "ns", "p"))
	waitRev(t, c, rev)

	if p.saw("ranges") {
		t.Error("the parser was called for a skipped key")
	}
	if !p.saw("pods") {
		t.Error("the parser was not called for pods")
	}
	if n := c.Count("ranges"); n != 0 {
		t.Errorf("Count(ranges) = %d, want 0", n)
	}
	if items, _, _ := c.List("ranges", "/registry/ranges/", "", nil, 0); len(items) != 0 {
		t.Errorf("List(ranges) = %q", itemKeys(items))
	}
	if w.Pending() {
		ev, _, _ := recv(w, waitTimeout)
		t.Errorf("watch on a skipped segment got %s %s", ev.Type, ev.Obj.Key)
	}

	// Without Skip the same key is an object: the option is what hides it.
	unskipped := startCache(t, s, cache.Options{})
	if n := unskipped.Count("ranges"); n != 1 {
		t.Errorf("Count(ranges) without Skip = %d, want 1", n)
	}
}

func TestItemWriteJSON(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		rv   int64
		want string
	}{
		{
			name: "fields after",
			raw:  `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"ns"},"spec":{}}`,
			rv:   42,
			want: `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42","name":"a","namespace":"ns"},"spec":{}}`,
		},
		{
			name: "empty metadata",
			raw:  `{"kind":"Pod","apiVersion":"v1","metadata":{},"spec":{}}`,
			rv:   7,
			want: `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"7"},"spec":{}}`,
		},
		{
			name: "only the first metadata",
			raw:  `{"kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"metadata":{}}}}`,
			rv:   9223372036854775807,
			want: `{"kind":"Deployment","metadata":{"resourceVersion":"9223372036854775807","name":"d"},"spec":{"template":{"metadata":{}}}}`,
		},
		{
			name: "no metadata",
			raw:  `{"kind":"Status","apiVersion":"v1"}`,
			rv:   5,
			want: `{"kind":"Status","apiVersion":"v1"}`,
		},
		{
			name: "revision zero",
			raw:  `{"metadata":{"name":"a"}}`,
			rv:   0,
			want: `{"metadata":{"resourceVersion":"0","name":"a"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := cache.NewItem("/registry/x/a", "", "a", []byte(tt.raw), tt.rv, nil, nil)
			var b strings.Builder
			if err := it.WriteJSON(&b, tt.rv); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("WriteJSON =\n%s\nwant\n%s", b.String(), tt.want)
			}
			if got := string(it.JSON()); got != tt.want {
				t.Errorf("JSON =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid([]byte(b.String())) {
				t.Errorf("WriteJSON wrote invalid JSON: %s", b.String())
			}
			if string(it.Raw) != tt.raw {
				t.Errorf("WriteJSON changed Raw to %s", it.Raw)
			}
		})
	}

	// Another revision than the item's own (list responses).
	it := cache.NewItem("k", "", "a", []byte(`{"kind":"Pod","metadata":{"name":"a"}}`), 3, nil, nil)
	var b strings.Builder
	if err := it.WriteJSON(&b, 11); err != nil {
		t.Fatal(err)
	}
	var obj corev1.Pod
	if err := json.Unmarshal([]byte(b.String()), &obj); err != nil || obj.ResourceVersion != "11" || obj.Name != "a" {
		t.Errorf("WriteJSON(11) = %s (%v)", b.String(), err)
	}

	// Write errors are returned.
	if err := it.WriteJSON(failingWriter{}, 1); err == nil {
		t.Error("WriteJSON into a failing writer returned nil")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
