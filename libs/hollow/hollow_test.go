package hollow

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func eventually(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNodesLeasesAndPods(t *testing.T) {
	client := fake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := Start(ctx, client, Options{Nodes: 2, RenewInterval: 50 * time.Millisecond, BindUnscheduled: true,
		NotReady: func(p *v1.Pod) bool { return p.Name == "lazy" }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 2 {
		t.Fatalf("nodes %v %v", nodes, err)
	}
	for _, n := range nodes.Items {
		if n.Status.Allocatable.Pods().Value() != 110 || n.Status.Conditions[0].Type != v1.NodeReady || n.Status.Conditions[0].Status != v1.ConditionTrue {
			t.Fatalf("node %s status %+v", n.Name, n.Status)
		}
	}
	renewTime := func(name string) time.Time {
		l, err := client.CoordinationV1().Leases(LeaseNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l.Spec.RenewTime.Time
	}
	first := renewTime("hollow-node-0")
	eventually(t, func() error {
		if !renewTime("hollow-node-0").After(first) {
			return fmt.Errorf("lease not renewed")
		}
		return nil
	})

	for _, name := range []string{"bound", "lazy"} {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: v1.PodSpec{NodeName: "hollow-node-1", Containers: []v1.Container{{Name: "c", Image: "img"}}}}
		if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, func() error {
		for name, wantReady := range map[string]bool{"bound": true, "lazy": false} {
			p, err := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready := len(p.Status.Conditions) == 4 && p.Status.Conditions[3].Status == v1.ConditionTrue
			if p.Status.Phase != v1.PodRunning || p.Status.PodIP == "" || ready != wantReady || len(p.Status.ContainerStatuses) != 1 {
				return fmt.Errorf("pod %s status %+v", name, p.Status)
			}
		}
		return nil
	})

	// Unscheduled pods are bound.
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "ns"}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}
	if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		for _, a := range client.Actions() {
			if a.GetVerb() == "create" && a.GetSubresource() == "binding" {
				return nil
			}
		}
		return fmt.Errorf("no binding")
	})

	// A killed node stops renewing.
	c.Kill("hollow-node-0")
	time.Sleep(100 * time.Millisecond)
	killed := renewTime("hollow-node-0")
	time.Sleep(200 * time.Millisecond)
	if !renewTime("hollow-node-0").Equal(killed) {
		t.Fatal("killed node renewed its lease")
	}
}
