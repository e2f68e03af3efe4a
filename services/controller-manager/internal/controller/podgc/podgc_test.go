package podgc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestGC(t *testing.T) {
	now := metav1.Now()
	mk := func(name, node string, phase v1.PodPhase, created int64, deleting bool) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(time.Unix(created, 0))},
			Spec: v1.PodSpec{NodeName: node}, Status: v1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	objs := []runtime.Object{
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "alive"}},
		mk("running", "alive", v1.PodRunning, 1, false),
		mk("orphan", "ghost", v1.PodRunning, 1, false),
		mk("unscheduled-deleting", "", v1.PodPending, 1, true),
		mk("done-1", "alive", v1.PodSucceeded, 1, false),
		mk("done-2", "alive", v1.PodFailed, 2, false),
		mk("done-3", "alive", v1.PodSucceeded, 3, false),
	}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f.Core().V1().Pods(), f.Core().V1().Nodes(), 2, time.Second, nil)
	for _, o := range objs {
		switch o := o.(type) {
		case *v1.Node:
			_ = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *v1.Pod:
			_ = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
	}
	if err := c.gc(context.Background()); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deleted = append(deleted, d.GetName())
		}
	}
	slices.Sort(deleted)
	if fmt.Sprint(deleted) != "[done-1 orphan unscheduled-deleting]" {
		t.Fatalf("deleted %v", deleted)
	}
}
