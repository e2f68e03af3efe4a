package clientgo

import (
	"net/http"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"drover.dev/e2e/framework"
)

// TestListResourceVersionSemantics checks list's resourceVersion and
// resourceVersionMatch as Kubernetes documents them ("Resource versions" in the API
// concepts).
func TestListResourceVersionSemantics(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)

	v1, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "versioned"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := v1.DeepCopy()
	v2.Data["v"] = "2"
	if v2, err = cms.Update(ctx, v2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rv1, _ := strconv.ParseInt(v1.ResourceVersion, 10, 64)
	rv2, _ := strconv.ParseInt(v2.ResourceVersion, 10, 64)
	if rv2 <= rv1 {
		t.Errorf("resourceVersion did not increase: %d then %d", rv1, rv2)
	}
	dataOf := func(l *corev1.ConfigMapList) string {
		for _, cm := range l.Items {
			if cm.Name == "versioned" {
				return cm.Data["v"]
			}
		}
		return "(absent)"
	}

	t.Run("unset is a consistent read", func(t *testing.T) {
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dataOf(l) != "2" {
			t.Errorf("latest list shows v=%s, want 2", dataOf(l))
		}
		if lrv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64); lrv < rv2 {
			t.Errorf("list resourceVersion %d older than the last write %d", lrv, rv2)
		}
	})
	t.Run("exact returns the state at that revision", func(t *testing.T) {
		l, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: v1.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if dataOf(l) != "1" || l.ResourceVersion != v1.ResourceVersion {
			t.Errorf("exact list at %s: v=%s rv=%s, want v=1 at %s", v1.ResourceVersion, dataOf(l), l.ResourceVersion, v1.ResourceVersion)
		}
	})
	t.Run("notOlderThan returns at least that revision", func(t *testing.T) {
		l, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: v1.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		if err != nil {
			t.Fatal(err)
		}
		if lrv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64); lrv < rv1 {
			t.Errorf("notOlderThan %d answered at %d", rv1, lrv)
		}
	})
	t.Run("zero means any", func(t *testing.T) {
		if _, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "0"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("match without a version is 400", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})
	t.Run("exact zero is 400", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})
	t.Run("not a number is 400", func(t *testing.T) {
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "abc", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		wantStatus(t, err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	})
	t.Run("a future revision times out as too large", func(t *testing.T) {
		future := strconv.FormatInt(rv2+1_000_000, 10)
		_, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: future, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
		s := wantStatus(t, err, http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
		if s.Details == nil || !slices.ContainsFunc(s.Details.Causes, func(c metav1.StatusCause) bool {
			return c.Type == metav1.CauseTypeResourceVersionTooLarge
		}) {
			t.Errorf("504 details %+v, want a cause of type %s (client-go's reflector relies on it)", s.Details, metav1.CauseTypeResourceVersionTooLarge)
		}
	})
}

// TestWatchWithoutResourceVersionStartsWithState: a watch with resourceVersion unset or
// "0" begins with synthetic ADDED events for the objects that exist, then goes on live.
func TestWatchWithoutResourceVersionStartsWithState(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	cms := cs.CoreV1().ConfigMaps(ns)
	for _, name := range []string{"s1", "s2"} {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"state": "yes"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, rv := range []string{"", "0"} {
		t.Run("rv="+rv, func(t *testing.T) {
			existing, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "state=yes"})
			if err != nil {
				t.Fatal(err)
			}
			w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, LabelSelector: "state=yes"})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			var added []string
			for range existing.Items {
				ev := nextEvent(t, w, defaultWait)
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok || ev.Type != watch.Added {
					t.Fatalf("initial event %s %v, want ADDED of an existing object", ev.Type, ev.Object)
				}
				added = append(added, cm.Name)
			}
			slices.Sort(added)
			if want := cmNames(existing); !slices.Equal(added, want) {
				t.Errorf("initial ADDED events for %v, want %v", added, want)
			}
			name := "live-" + framework.RandSuffix()
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"state": "yes"}}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, w, defaultWait)
			if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != name {
				t.Fatalf("after the initial state: %s %v, want ADDED %s", ev.Type, ev.Object, name)
			}
		})
	}
}

// TestWatchPodsByFieldSelector watches pods the way a kubelet (spec.nodeName=<node>) and
// a scheduler (spec.nodeName=) do: an object that starts or stops matching the selector
// is ADDED to or DELETED from the watch.
func TestWatchPodsByFieldSelector(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)

	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	watchFor := func(selector string) watch.Interface {
		w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: selector})
		if err != nil {
			t.Fatalf("watch %s: %v", selector, err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	running := watchFor("status.phase=Running")
	unscheduled := watchFor("spec.nodeName=")
	onNode := watchFor("spec.nodeName=node-w")
	want := func(w watch.Interface, typ watch.EventType, name, what string) {
		t.Helper()
		ev := nextEvent(t, w, defaultWait)
		if p, ok := ev.Object.(*corev1.Pod); !ok || ev.Type != typ || p.Name != name {
			t.Fatalf("%s: %s %v, want %s %s", what, ev.Type, ev.Object, typ, name)
		}
	}

	p, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "walker"}, Spec: podSpec()}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want(unscheduled, watch.Added, "walker", "scheduler's watch on create")

	p.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want(running, watch.Added, "walker", "status.phase=Running watch when the pod starts running")
	want(unscheduled, watch.Modified, "walker", "scheduler's watch on a status change")

	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "walker"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-w"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	want(unscheduled, watch.Deleted, "walker", "scheduler's watch when the pod is bound")
	want(onNode, watch.Added, "walker", "kubelet's watch when the pod is bound to its node")
	want(running, watch.Modified, "walker", "status.phase=Running watch when the pod is bound")

	if err := pods.Delete(ctx, "walker", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	want(onNode, watch.Deleted, "walker", "kubelet's watch on delete")
	want(running, watch.Deleted, "walker", "status.phase=Running watch on delete")
}
