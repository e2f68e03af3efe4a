// Package clientgo drives drover's apiserver with client-go only: the typed clientset,
// the dynamic client and informers, against a cluster started with `drover up`.
package clientgo

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/e2e/framework"
)

func TestMain(m *testing.M) {
	framework.Main(m, framework.MainOptions{Cluster: true})
}

// ctxFor returns a context that ends with the test or after a minute.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apiStatus returns the metav1.Status of an API error, failing the test if err is not one.
func apiStatus(t *testing.T, err error) metav1.Status {
	t.Helper()
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		t.Fatalf("want an API status error, got %T: %v", err, err)
	}
	return s.Status()
}

// wantStatus fails the test unless err is an API error with the given code and reason.
func wantStatus(t *testing.T, err error, code int32, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", code, reason)
	}
	s := apiStatus(t, err)
	if s.Code != code || s.Reason != reason {
		t.Fatalf("want %d %s, got %d %s: %v", code, reason, s.Code, s.Reason, err)
	}
	return s
}

// nextEvent returns the next event of w, failing the test after timeout.
func nextEvent(t *testing.T, w watch.Interface, timeout time.Duration) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed before the next event")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no watch event within %s", timeout)
	}
	panic("unreachable")
}

// names returns the sorted names of objects.
func names[T any](items []T, name func(*T) string) []string {
	out := make([]string, 0, len(items))
	for i := range items {
		out = append(out, name(&items[i]))
	}
	sort.Strings(out)
	return out
}

func cmNames(l *corev1.ConfigMapList) []string {
	return names(l.Items, func(c *corev1.ConfigMap) string { return c.Name })
}

func podNames(l *corev1.PodList) []string {
	return names(l.Items, func(p *corev1.Pod) string { return p.Name })
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// podSpec is a minimal valid pod spec; no pod needs to run in these tests.
func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36", Command: []string{"sleep", "3600"}}}}
}

// defaultWait bounds waits for things that happen within moments on a healthy server.
const defaultWait = 30 * time.Second

var errStillThere = errors.New("object still exists")
