package clientgo

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestSystemNamespacesExist(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("get namespace %s: %v", name, err)
			continue
		}
		if ns.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s: phase %q, want Active", name, ns.Status.Phase)
		}
		if ns.Namespace != "" {
			t.Errorf("namespace %s is cluster-scoped but has metadata.namespace %q", name, ns.Namespace)
		}
	}
}

func TestCreateInMissingNamespaceIsNotFound(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	missing := "e2e-missing-" + framework.RandSuffix()
	_, err := cs.CoreV1().ConfigMaps(missing).Create(ctxFor(t), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan"},
	}, metav1.CreateOptions{})
	s := wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	if s.Details == nil || s.Details.Kind != "namespaces" || s.Details.Name != missing {
		t.Errorf("404 details: got %+v, want kind namespaces, name %s", s.Details, missing)
	}
}

func TestNamespaceCreateAndDelete(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	name := "e2e-nslife-" + framework.RandSuffix()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { framework.DeleteNamespace(t, cs, name) })
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("new namespace phase %q, want Active", ns.Status.Phase)
	}
	if _, err := cs.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "inside"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create in new namespace: %v", err)
	}
	// Same name again: 409 AlreadyExists.
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonAlreadyExists)

	if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	// Kubernetes marks the namespace Terminating until its content is gone (the
	// namespace controller's job); either way it must not stay Active.
	got, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil || got.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("deleted namespace still there without deletionTimestamp/Terminating: deletionTimestamp=%v phase=%q", got.DeletionTimestamp, got.Status.Phase)
	}
	// A terminating namespace takes no new content: 403 Forbidden.
	_, err = cs.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	if apierrors.IsNotFound(err) {
		return // it finished terminating meanwhile
	}
	wantStatus(t, err, http.StatusForbidden, metav1.StatusReasonForbidden)
}
