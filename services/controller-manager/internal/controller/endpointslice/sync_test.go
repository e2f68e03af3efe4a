package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// sliceServer makes the fake clientset store slices as an apiserver does:
// generated names, uids, a resourceVersion per write with conflicts on a
// stale one, and a generation that stays as it is (drover's apiserver does
// not bump it for slices).
func sliceServer(t *testing.T, cs *fake.Clientset) *atomic.Int32 {
	t.Helper()
	var rv, writes atomic.Int64
	var n atomic.Int32
	gvr := discovery.SchemeGroupVersion.WithResource("endpointslices")
	cs.PrependReactor("create", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*discovery.EndpointSlice).DeepCopy()
		id := writes.Add(1)
		if s.Name == "" {
			s.Name = s.GenerateName + strconv.FormatInt(id, 10)
		}
		s.UID = types.UID("uid-" + s.Name)
		s.ResourceVersion = strconv.FormatInt(rv.Add(1), 10)
		n.Add(1)
		return true, s, cs.Tracker().Create(gvr, s, s.Namespace)
	})
	cs.PrependReactor("update", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.UpdateAction).GetObject().(*discovery.EndpointSlice).DeepCopy()
		cur, err := cs.Tracker().Get(gvr, s.Namespace, s.Name)
		if err != nil {
			return true, nil, err
		}
		if cur.(*discovery.EndpointSlice).ResourceVersion != s.ResourceVersion {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), s.Name, errors.New("stale resourceVersion"))
		}
		s.ResourceVersion = strconv.FormatInt(rv.Add(1), 10)
		n.Add(1)
		return true, s, cs.Tracker().Update(gvr, s, s.Namespace)
	})
	return &n
}

func readyPod(i int) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns", UID: types.UID(fmt.Sprintf("pod-%03d", i)),
			Labels: map[string]string{"app": "web"}, ResourceVersion: "1"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: fmt.Sprintf("10.0.0.%d", i),
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}},
	}
}

// serverSlices returns the stored slices and how often each pod appears.
func serverSlices(t *testing.T, cs *fake.Clientset) ([]discovery.EndpointSlice, map[types.UID]int) {
	t.Helper()
	l, err := cs.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[types.UID]int{}
	for _, s := range l.Items {
		for _, ep := range s.Endpoints {
			seen[ep.TargetRef.UID]++
		}
	}
	return l.Items, seen
}

// TestStaleSliceCacheWritesNoDuplicates replays the flake of
// TestEndpointsAndSlices: a slice was updated, the slice cache still shows
// the version before that update, and a new pod arrives. Syncing on that
// cache would put the updated slice's new endpoint into a second slice; the
// sync must wait for the cache instead, and then converge with every
// endpoint in exactly one slice.
func TestStaleSliceCacheWritesNoDuplicates(t *testing.T) {
	ctx := context.Background()
	web := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.5",
			Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}}}
	cs := fake.NewClientset()
	writes := sliceServer(t, cs)
	f := informers.NewSharedInformerFactory(cs, 0)
	c := New(cs, f.Core().V1().Services(), f.Core().V1().Pods(), f.Core().V1().Nodes(), f.Discovery().V1().EndpointSlices(), 2, nil)
	pods := f.Core().V1().Pods().Informer().GetIndexer()
	slicesCache := f.Discovery().V1().EndpointSlices().Informer().GetIndexer()
	if err := f.Core().V1().Services().Informer().GetIndexer().Add(web); err != nil {
		t.Fatal(err)
	}
	// catchUp makes the slice cache show what the server stores.
	catchUp := func() {
		t.Helper()
		items, _ := serverSlices(t, cs)
		for _, o := range slicesCache.List() {
			_ = slicesCache.Delete(o)
		}
		for i := range items {
			if err := slicesCache.Add(&items[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	sync := func() error {
		t.Helper()
		err := c.sync(ctx, "ns/web")
		if err != nil && !errors.Is(err, ErrStaleCache) {
			t.Fatalf("sync: %v", err)
		}
		return err
	}

	_ = pods.Add(readyPod(1))
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	catchUp() // one slice {p1}
	_ = pods.Add(readyPod(2))
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	// The server's slice is now {p1, p2}; the cache still shows {p1}.
	_ = pods.Add(readyPod(0))
	before := writes.Load()
	if err := sync(); !errors.Is(err, ErrStaleCache) {
		t.Fatalf("sync on a stale slice cache: %v, want ErrStaleCache", err)
	}
	if writes.Load() != before {
		t.Fatalf("sync on a stale slice cache wrote %d slices", writes.Load()-before)
	}
	catchUp()
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	catchUp()
	if err := sync(); err != nil {
		t.Fatal(err)
	}
	items, seen := serverSlices(t, cs)
	for _, i := range []int{0, 1, 2} {
		if uid := readyPod(i).UID; seen[uid] != 1 {
			t.Errorf("pod %s in %d slices", uid, seen[uid])
		}
	}
	if len(items) != 2 {
		t.Errorf("%d slices for 3 endpoints at 2 per slice", len(items))
	}

	// Our own writes seen by the watch queue nothing; another writer's do.
	s := items[0].DeepCopy()
	if !c.tracker.expected(s) {
		t.Fatalf("our write %s/%s not recognised", s.Name, s.ResourceVersion)
	}
	s.ResourceVersion = "999"
	if c.tracker.expected(s) {
		t.Fatal("another writer's version taken for ours")
	}
}

// TestDuplicateEndpointsAreRemoved: slices that a partially failed apply
// left with one endpoint twice are deduplicated on the next sync.
func TestDuplicateEndpointsAreRemoved(t *testing.T) {
	a, b := existing("a", 0, 1), existing("b", 1, 2)
	p := reconcile(svc, want(3), []*discovery.EndpointSlice{a, b}, 2)
	if len(p.create) != 0 || len(p.remove) != 0 || len(p.update) != 1 {
		t.Fatalf("create %d update %d remove %d, want one update", len(p.create), len(p.update), len(p.remove))
	}
	if u := p.update[0]; u.Name != "b" || len(u.Endpoints) != 1 || u.Endpoints[0].TargetRef.UID != "pod-002" {
		t.Fatalf("update %s: %+v", u.Name, u.Endpoints)
	}
	// The duplicate alone in its slice: the slice goes.
	p = reconcile(svc, want(2), []*discovery.EndpointSlice{existing("a", 0, 1), existing("b", 1)}, 2)
	if len(p.update) != 0 || len(p.remove) != 1 || p.remove[0].Name != "b" {
		t.Fatalf("update %d remove %v", len(p.update), p.remove)
	}
}
