package integration

import (
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"drover.dev/controller-manager/app/options"
)

func gone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("still there")
	}
	return err
}

func TestCascadingDeletion(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) {
		o.Controllers = []string{"replicaset", "deployment", "garbagecollector"}
	})
	ns := newNamespace(t, e, "gc")
	create := func(name string) {
		t.Helper()
		d := newDeployment(name, 3, intstr.FromInt32(1), intstr.FromInt32(0))
		if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRolledOut(t, e, ns, name)
	}
	count := func(name string) (rs, pods int, err error) {
		rss, err := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return 0, 0, err
		}
		ps, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return 0, 0, err
		}
		return len(rss.Items), len(ps.Items), nil
	}
	del := func(name string, policy metav1.DeletionPropagation) {
		t.Helper()
		if err := e.client.AppsV1().Deployments(ns).Delete(e.ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("background", func(t *testing.T) {
		create("bg")
		del("bg", metav1.DeletePropagationBackground)
		eventually(t, 60*time.Second, func() error {
			rs, pods, err := count("bg")
			if err != nil {
				return err
			}
			if rs+pods > 0 {
				return fmt.Errorf("%d replica sets, %d pods left", rs, pods)
			}
			return nil
		})
	})

	t.Run("foreground", func(t *testing.T) {
		create("fg")
		del("fg", metav1.DeletePropagationForeground)
		// The owner stays, marked, while dependents remain.
		d, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, "fg", metav1.GetOptions{})
		if err == nil && (d.DeletionTimestamp == nil || len(d.Finalizers) == 0 || d.Finalizers[0] != metav1.FinalizerDeleteDependents) {
			t.Fatalf("deployment not held by foregroundDeletion: %+v", d.ObjectMeta)
		}
		eventually(t, 60*time.Second, func() error {
			rs, pods, err := count("fg")
			if err != nil {
				return err
			}
			_, derr := e.client.AppsV1().Deployments(ns).Get(e.ctx, "fg", metav1.GetOptions{})
			if rs+pods > 0 || gone(derr) != nil {
				return fmt.Errorf("%d replica sets, %d pods left, deployment: %v", rs, pods, derr)
			}
			return nil
		})
	})

	t.Run("orphan", func(t *testing.T) {
		create("orph")
		del("orph", metav1.DeletePropagationOrphan)
		eventually(t, 60*time.Second, func() error {
			_, err := e.client.AppsV1().Deployments(ns).Get(e.ctx, "orph", metav1.GetOptions{})
			return gone(err)
		})
		rss, err := e.client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=orph"})
		if err != nil || len(rss.Items) != 1 || len(rss.Items[0].OwnerReferences) != 0 {
			t.Fatalf("orphaned replica sets: %+v %v", rss, err)
		}
		waitReplicaSet(t, e, ns, rss.Items[0].Name, 3)
	})

	t.Run("foreground cycle", func(t *testing.T) {
		// a owns b and b owns a, both blocking: a foreground delete of a
		// must not wait forever for b, which waits for a.
		a, err := e.client.CoreV1().ConfigMaps(ns).Create(e.ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cycle-a"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := func(cm *v1.ConfigMap) metav1.OwnerReference {
			return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, BlockOwnerDeletion: ptr(true)}
		}
		b, err := e.client.CoreV1().ConfigMaps(ns).Create(e.ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cycle-b",
			OwnerReferences: []metav1.OwnerReference{ref(a)}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a.OwnerReferences = []metav1.OwnerReference{ref(b)}
		if _, err := e.client.CoreV1().ConfigMaps(ns).Update(e.ctx, a, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		fg := metav1.DeletePropagationForeground
		if err := e.client.CoreV1().ConfigMaps(ns).Delete(e.ctx, "cycle-a", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, func() error {
			for _, name := range []string{"cycle-a", "cycle-b"} {
				cm, err := e.client.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
				if err == nil {
					return fmt.Errorf("%s still there: finalizers %v, owners %+v", name, cm.Finalizers, cm.OwnerReferences)
				}
				if err := gone(err); err != nil {
					return err
				}
			}
			return nil
		})
	})

	t.Run("dangling", func(t *testing.T) {
		cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dangling", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: "never-existed", UID: "4f1c8a52-0000-4000-8000-000000000000"}}}}
		if _, err := e.client.CoreV1().ConfigMaps(ns).Create(e.ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, func() error {
			_, err := e.client.CoreV1().ConfigMaps(ns).Get(e.ctx, "dangling", metav1.GetOptions{})
			return gone(err)
		})
	})
}

func TestNamespaceDeletionAndServiceAccount(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) {
		o.Controllers = []string{"replicaset", "deployment", "garbagecollector", "namespace", "serviceaccount"}
	})
	ns := newNamespace(t, e, "doomed")
	eventually(t, 30*time.Second, func() error {
		_, err := e.client.CoreV1().ServiceAccounts(ns).Get(e.ctx, "default", metav1.GetOptions{})
		return err
	})
	// Deleting the default service account brings it back.
	if err := e.client.CoreV1().ServiceAccounts(ns).Delete(e.ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		_, err := e.client.CoreV1().ServiceAccounts(ns).Get(e.ctx, "default", metav1.GetOptions{})
		return err
	})
	d := newDeployment("app", 3, intstr.FromInt32(1), intstr.FromInt32(0))
	if _, err := e.client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRolledOut(t, e, ns, "app")
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"a": "b"}}
	if _, err := e.client.CoreV1().ConfigMaps(ns).Create(e.ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.CoreV1().Namespaces().Delete(e.ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() error {
		n, err := e.client.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("namespace %s: %+v", n.Status.Phase, n.Status.Conditions)
		}
		return gone(err)
	})
	pods, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("pods left: %v %v", len(pods.Items), err)
	}
}
