package clientgo

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"drover.dev/e2e/framework"
)

// recorder keeps what an informer's handlers were told, as "name" or "name=data".
type recorder struct {
	mu                     sync.Mutex
	adds, updates, deletes []string
}

func cmState(obj any) string {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return fmt.Sprintf("%s=%s", o.Name, o.Data["v"])
	case cache.DeletedFinalStateUnknown:
		return cmState(o.Obj)
	}
	return fmt.Sprintf("%T", obj)
}

func (r *recorder) OnAdd(obj any, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.adds = append(r.adds, cmState(obj))
}

func (r *recorder) OnUpdate(_, obj any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, cmState(obj))
}

func (r *recorder) OnDelete(obj any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes = append(r.deletes, cmState(obj))
}

// has returns nil once the handler list named kind contains want.
func (r *recorder) has(kind, want string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := map[string][]string{"add": r.adds, "update": r.updates, "delete": r.deletes}[kind]
	if slices.Contains(list, want) {
		return nil
	}
	return fmt.Errorf("no %s of %q yet; adds %v updates %v deletes %v", kind, want, r.adds, r.updates, r.deletes)
}

// startConfigMapInformer starts a configmap informer on ns through cs and waits for its
// cache to sync.
func startConfigMapInformer(t *testing.T, cs kubernetes.Interface, ns string) (*recorder, listersv1.ConfigMapNamespaceLister) {
	t.Helper()
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	cms := factory.Core().V1().ConfigMaps()
	rec := &recorder{}
	if _, err := cms.Informer().AddEventHandler(rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	syncCtx, syncCancel := context.WithTimeout(ctx, defaultWait)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), cms.Informer().HasSynced) {
		t.Fatalf("informer cache did not sync within %s", defaultWait)
	}
	return rec, cms.Lister().ConfigMaps(ns)
}

func TestInformerListAndWatch(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pre"}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, lister := startConfigMapInformer(t, cs, ns)
	if err := rec.has("add", "pre=0"); err != nil {
		t.Errorf("initial list: %v", err)
	}

	a, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("add", "a=1") })
	a.Data["v"] = "2"
	if _, err := cms.Update(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("update", "a=2") })
	if err := cms.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("delete", "a=2") })

	if got, err := lister.Get("pre"); err != nil || got.Data["v"] != "0" {
		t.Errorf("lister get pre: %v %v", got, err)
	}
	if _, err := lister.Get("a"); err == nil {
		t.Error("lister still has deleted a")
	}
}

// TestWatchListStreaming checks the streaming list client-go v0.37 informers try first:
// either the server supports it (initial ADDED events, then a BOOKMARK marked
// k8s.io/initial-events-end) or it refuses it with a 4xx so that clients fall back.
func TestWatchListStreaming(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)
	for _, name := range []string{"s1", "s2"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"stream": "yes"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{
		LabelSelector:        "stream=yes",
		SendInitialEvents:    ptr(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks:  true,
	})
	if err != nil {
		s := apiStatus(t, err)
		if s.Code < 400 || s.Code >= 500 {
			t.Fatalf("sendInitialEvents refused with %d: want a 4xx so that clients fall back", s.Code)
		}
		t.Logf("server refuses streaming lists (%d %s); clients fall back to list+watch", s.Code, s.Reason)
		return
	}
	defer w.Stop()
	var added []string
	for {
		ev := nextEvent(t, w, defaultWait)
		switch ev.Type {
		case watch.Added:
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				t.Fatalf("ADDED with %T", ev.Object)
			}
			added = append(added, cm.Name)
			continue
		case watch.Bookmark:
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				t.Fatalf("bookmark object %T", ev.Object)
			}
			if cm.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
				t.Fatalf("bookmark after %v without %s=true: %v", added, metav1.InitialEventsAnnotationKey, cm.Annotations)
			}
			if cm.ResourceVersion == "" {
				t.Error("initial-events-end bookmark has no resourceVersion")
			}
		default:
			t.Fatalf("streaming list: unexpected %s %v", ev.Type, ev.Object)
		}
		break
	}
	slices.Sort(added)
	if !slices.Equal(added, []string{"s1", "s2"}) {
		t.Errorf("initial events %v, want [s1 s2]", added)
	}
	// Live events follow.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "s3", Labels: map[string]string{"stream": "yes"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		ev := nextEvent(t, w, defaultWait)
		if ev.Type == watch.Bookmark {
			continue
		}
		if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != "s3" {
			t.Fatalf("after the initial events: %s %v, want ADDED s3", ev.Type, ev.Object)
		}
		break
	}
}

// TestInformerRecoversAfterAPIServerRestart runs an informer against a second apiserver
// replica, kills that replica, changes objects through the cluster's own apiserver, and
// starts the replica again: the informer must catch up on what it missed.
func TestInformerRecoversAfterAPIServerRestart(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	replica, port := c.StartAPIServer(t)
	replicaCS, err := kubernetes.NewForConfig(c.ConfigFor(port))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}, Data: map[string]string{"v": "0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec, lister := startConfigMapInformer(t, replicaCS, ns)
	if err := rec.has("add", "doomed=0"); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-kill"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("add", "before-kill=1") })

	if err := replica.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "while-down"}, Data: map[string]string{"v": "2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := replica.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitAPIServerReady(t, replica, port)

	// The reflector backs off up to ~30s between attempts.
	const recoverWait = 90 * time.Second
	framework.Eventually(t, recoverWait, func() error {
		if _, err := lister.Get("while-down"); err != nil {
			return fmt.Errorf("informer cache lacks while-down: %w", err)
		}
		if _, err := lister.Get("doomed"); err == nil {
			return fmt.Errorf("informer cache still has doomed, deleted while the replica was down")
		}
		return nil
	})
	framework.Eventually(t, defaultWait, func() error { return rec.has("delete", "doomed=0") })
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restart"}, Data: map[string]string{"v": "3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error { return rec.has("add", "after-restart=3") })
}

// TestTwoReplicasShareState checks that a second apiserver replica on the same etcd
// serves the same objects, and that a watch on either sees writes made through the other.
func TestTwoReplicasShareState(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)

	_, port := c.StartAPIServer(t)
	other, err := kubernetes.NewForConfig(c.ConfigFor(port))
	if err != nil {
		t.Fatal(err)
	}
	// Read through the replica what was written through the first.
	first, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "via-first"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.CoreV1().ConfigMaps(ns).Get(ctx, "via-first", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("replica does not serve an object written through the first apiserver: %v", err)
	}
	if got.UID != first.UID || got.ResourceVersion != first.ResourceVersion {
		t.Errorf("replica serves uid/rv %s/%s, first wrote %s/%s", got.UID, got.ResourceVersion, first.UID, first.ResourceVersion)
	}

	for _, tt := range []struct {
		name           string
		watcher, write kubernetes.Interface
	}{
		{"watch replica, write first", other, cs},
		{"watch first, write replica", cs, other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			list, err := tt.watcher.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := tt.watcher.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			name := "x-" + framework.RandSuffix()
			if _, err := tt.write.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, w, defaultWait)
			if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != name {
				t.Fatalf("watch: %s %v, want ADDED %s", ev.Type, ev.Object, name)
			}
		})
	}
	// Optimistic concurrency holds across replicas.
	stale := got.DeepCopy()
	got.Labels = map[string]string{"by": "replica"}
	if _, err := other.CoreV1().ConfigMaps(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale.Labels = map[string]string{"by": "first"}
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
}
