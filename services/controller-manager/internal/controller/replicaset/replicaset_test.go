package replicaset

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"drover.dev/controller-manager/internal/controller"
)

func newRS(replicas int32) *apps.ReplicaSet {
	labels := map[string]string{"app": "web"}
	return &apps.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 2},
		Spec: apps.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "nginx"}}}}},
	}
}

func ownedPod(rs *apps.ReplicaSet, name string, ready bool, created int64) *v1.Pod {
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: rs.Spec.Template.Labels,
			CreationTimestamp: metav1.NewTime(time.Unix(created, 0)),
			OwnerReferences:   []metav1.OwnerReference{*controller.NewControllerRef(rs, apps.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Spec:   v1.PodSpec{NodeName: "n"},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: status}}},
	}
}

type fixture struct {
	client *fake.Clientset
	c      *Controller
	f      informers.SharedInformerFactory
	events *record.FakeRecorder
}

func newFixture(t *testing.T, rs *apps.ReplicaSet, pods ...*v1.Pod) *fixture {
	t.Helper()
	objs := []runtime.Object{rs}
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	generated := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*v1.Pod)
		if p.Name == "" {
			generated++
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, generated)
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	events := record.NewFakeRecorder(100)
	c := New(client, f.Apps().V1().ReplicaSets().Informer(), f.Core().V1().Pods(), events, nil)
	_ = f.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs)
	for _, p := range pods {
		_ = f.Core().V1().Pods().Informer().GetIndexer().Add(p)
	}
	return &fixture{client: client, c: c, f: f, events: events}
}

func (fx *fixture) count(verb, resource string) int {
	n := 0
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			n++
		}
	}
	return n
}

func TestSyncCreatesOnceUntilObserved(t *testing.T) {
	rs := newRS(3)
	fx := newFixture(t, rs, ownedPod(rs, "a", true, 1))
	if err := fx.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := fx.count("create", "pods"); got != 2 {
		t.Fatalf("created %d pods, want 2", got)
	}
	// The informer has not seen them: a second sync must not create again.
	if err := fx.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := fx.count("create", "pods"); got != 2 {
		t.Fatalf("created %d pods after a second sync, want 2", got)
	}
	if got := len(fx.events.Events); got != 2 {
		t.Fatalf("%d events, want 2", got)
	}
	if ev := <-fx.events.Events; ev != "Normal SuccessfulCreate Created pod: web-1" && ev != "Normal SuccessfulCreate Created pod: web-2" {
		t.Fatalf("event %q", ev)
	}
	for _, a := range fx.client.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			p := ca.GetObject().(*v1.Pod)
			ref := metav1.GetControllerOf(p)
			if p.GenerateName != "web-" || ref == nil || ref.UID != rs.UID || !*ref.BlockOwnerDeletion || p.Labels["app"] != "web" {
				t.Fatalf("pod %+v", p.ObjectMeta)
			}
		}
	}
}

func TestSyncDeletesPreferredPods(t *testing.T) {
	rs := newRS(1)
	fx := newFixture(t, rs,
		ownedPod(rs, "old-ready", true, 1),
		ownedPod(rs, "new-ready", true, 5),
		ownedPod(rs, "not-ready", false, 2))
	if err := fx.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range fx.client.Actions() {
		if da, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == "pods" {
			deleted = append(deleted, da.GetName())
		}
	}
	if fmt.Sprint(deleted) != "[not-ready new-ready]" && fmt.Sprint(deleted) != "[new-ready not-ready]" {
		t.Fatalf("deleted %v, want not-ready and new-ready", deleted)
	}
}

func TestSyncStatus(t *testing.T) {
	rs := newRS(3)
	rs.Spec.MinReadySeconds = 0
	fx := newFixture(t, rs, ownedPod(rs, "a", true, 1), ownedPod(rs, "b", false, 1), ownedPod(rs, "c", true, 1))
	if err := fx.c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	got, err := fx.client.AppsV1().ReplicaSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := got.Status
	if s.Replicas != 3 || s.ReadyReplicas != 2 || s.AvailableReplicas != 2 || s.FullyLabeledReplicas != 3 || s.ObservedGeneration != 2 {
		t.Fatalf("status %+v", s)
	}
}

func TestHandlersEnqueueAndSyncHandlerInjected(t *testing.T) {
	rs := newRS(1)
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f.Apps().V1().ReplicaSets().Informer(), f.Core().V1().Pods(), nil, nil)
	var mu sync.Mutex
	seen := map[string]int{}
	c.syncHandler = func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		seen[key]++
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 1) }()
	if _, err := client.AppsV1().ReplicaSets("ns").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An orphan pod that matches wakes the ReplicaSet too.
	orphan := ownedPod(rs, "orphan", true, 1)
	orphan.OwnerReferences = nil
	if _, err := client.CoreV1().Pods("ns").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := seen["ns/web"]
		mu.Unlock()
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sync handler never called")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Pod changes that only move status queue the ReplicaSet after
// StatusDelay, so that a burst of them makes one status write; a pod
// deleted by someone else queues it at once, to be replaced.
func TestStatusOnlyPodChangesAreCoalesced(t *testing.T) {
	rs := newRS(2)
	a, b := ownedPod(rs, "a", false, 1), ownedPod(rs, "b", false, 2)
	fx := newFixture(t, rs, a, b)
	q := fx.c.queue
	readyA, readyB := ownedPod(rs, "a", true, 1), ownedPod(rs, "b", true, 2)
	readyA.ResourceVersion, readyB.ResourceVersion = "2", "2"
	start := time.Now()
	fx.c.updatePod(a, readyA)
	fx.c.updatePod(b, readyB)
	if q.Len() != 0 {
		t.Fatalf("readiness changes queued at once (%d)", q.Len())
	}
	key, _ := q.Get() // blocks until the delay has passed
	if waited := time.Since(start); waited < controller.StatusDelay {
		t.Fatalf("queued after %v, before StatusDelay", waited)
	}
	q.Done(key)
	if q.Len() != 0 {
		t.Fatalf("%d more keys queued: the two changes were not coalesced", q.Len())
	}

	gone := readyA.DeepCopy()
	gone.ResourceVersion = "3"
	gone.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	fx.c.updatePod(readyA, gone)
	if q.Len() != 1 {
		t.Fatal("a pod deleted by someone else must queue its ReplicaSet at once")
	}
	key, _ = q.Get()
	q.Done(key)

	// A deletion the controller asked for only moves status.
	fx.c.expectations.Expect("ns/web", 0, []string{"ns/b"})
	goneB := readyB.DeepCopy()
	goneB.ResourceVersion = "3"
	goneB.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	fx.c.updatePod(readyB, goneB)
	if q.Len() != 0 || !fx.c.expectations.Satisfied("ns/web") {
		t.Fatalf("expected deletion: queued %d, satisfied %v", q.Len(), fx.c.expectations.Satisfied("ns/web"))
	}
}
