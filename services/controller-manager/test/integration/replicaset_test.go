package integration

import (
	"fmt"
	"time"

	"drover.dev/controller-manager/app/options"
	"testing"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReplicaSetScaleAdoptRelease(t *testing.T) {
	e := setup(t, 3, func(o *options.Options) { o.Controllers = []string{"replicaset"} })
	ns := newNamespace(t, e, "rs")
	labels := map[string]string{"app": "web"}
	// An orphan that matches is adopted instead of creating a new pod.
	orphan := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: labels}, Spec: podTemplate(labels, "nginx").Spec}
	if _, err := e.client.CoreV1().Pods(ns).Create(e.ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := &apps.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: apps.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "nginx")},
	}
	created, err := e.client.AppsV1().ReplicaSets(ns).Create(e.ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitReplicaSet(t, e, ns, "web", 3)
	p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != created.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("orphan not adopted: %+v", p.OwnerReferences)
	}

	for _, n := range []int32{7, 2, 0, 4} {
		scaled, err := e.client.AppsV1().ReplicaSets(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scaled.Spec.Replicas = ptr(n)
		if _, err := e.client.AppsV1().ReplicaSets(ns).Update(e.ctx, scaled, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitReplicaSet(t, e, ns, "web", n)
	}

	// A pod relabelled out of the selector is released and replaced.
	pods, err := activePods(e, ns, "app=web")
	if err != nil {
		t.Fatal(err)
	}
	victim := pods[0]
	victim.Labels = map[string]string{"app": "other"}
	if _, err := e.client.CoreV1().Pods(ns).Update(e.ctx, &victim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSet(t, e, ns, "web", 4)
	eventually(t, 30*time.Second, func() error {
		p, err := e.client.CoreV1().Pods(ns).Get(e.ctx, victim.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Errorf("still owned: %+v", p.OwnerReferences)
		}
		return nil
	})
}

func TestReplicationController(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) { o.Controllers = []string{"replicationcontroller"} })
	ns := newNamespace(t, e, "rc")
	labels := map[string]string{"app": "legacy"}
	tpl := podTemplate(labels, "nginx")
	rc := &v1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec:       v1.ReplicationControllerSpec{Replicas: ptr(int32(4)), Selector: labels, Template: &tpl},
	}
	if _, err := e.client.CoreV1().ReplicationControllers(ns).Create(e.ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	check := func(n int32) {
		eventually(t, 60*time.Second, func() error {
			rc, err := e.client.CoreV1().ReplicationControllers(ns).Get(e.ctx, "legacy", metav1.GetOptions{})
			if err != nil {
				return err
			}
			pods, err := activePods(e, ns, "app=legacy")
			if err != nil {
				return err
			}
			s := rc.Status
			if s.Replicas != n || s.ReadyReplicas != n || s.AvailableReplicas != n || s.ObservedGeneration != rc.Generation || len(pods) != int(n) {
				return fmt.Errorf("status %+v, %d pods, want %d", s, len(pods), n)
			}
			return nil
		})
	}
	check(4)
	scale, err := e.client.CoreV1().ReplicationControllers(ns).GetScale(e.ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	if _, err := e.client.CoreV1().ReplicationControllers(ns).UpdateScale(e.ctx, "legacy", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	check(1)
}
