package framework

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// cleanupTimeout bounds the clean-up of one test namespace.
const cleanupTimeout = 60 * time.Second

// TestNamespace creates a namespace of its own for the test, with the `default`
// ServiceAccount that Kubernetes' controller-manager would create, and deletes the
// namespace and what the test left in it when the test ends.
func TestNamespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := "e2e-" + strings.ToLower(sanitize(t.Name()))
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: map[string]string{"e2e.drover.dev/test": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create test namespace: %v", err)
	}
	t.Cleanup(func() { DeleteNamespace(t, cs, ns.Name) })
	_, err = cs.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create default service account in %s: %v", ns.Name, err)
	}
	return ns.Name
}

// DeleteNamespace deletes what the e2e tests create in a namespace (pods without a grace
// period, since no kubelet confirms their end), then the namespace itself. Failures fail
// the test: the API must be able to clean up after itself.
func DeleteNamespace(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	zero := int64(0)
	now := metav1.DeleteOptions{GracePeriodSeconds: &zero}
	check := func(what string, err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("cleanup of namespace %s: %s: %v", ns, what, err)
		}
	}
	if l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			check("delete pod "+o.Name, cs.CoreV1().Pods(ns).Delete(ctx, o.Name, now))
		}
	} else {
		check("list pods", err)
	}
	if l, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			check("delete service "+o.Name, cs.CoreV1().Services(ns).Delete(ctx, o.Name, metav1.DeleteOptions{}))
		}
	} else {
		check("list services", err)
	}
	check("delete deployments", cs.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	check("delete replicasets", cs.AppsV1().ReplicaSets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	check("delete configmaps", cs.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	check("delete secrets", cs.CoreV1().Secrets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	check("delete serviceaccounts", cs.CoreV1().ServiceAccounts(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}))
	check("delete namespace", cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
}

// sanitize turns a test name into something a DNS-1123 label may contain.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// RandSuffix returns a short random lowercase suffix for object names.
func RandSuffix() string {
	return fmt.Sprintf("%05x", rand.IntN(0x100000))
}
