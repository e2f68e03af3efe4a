package clientgo

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestPodCRUDAndDefaults(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)

	created, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crud", Labels: map[string]string{"app": "crud"}}, Spec: podSpec()}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.CreationTimestamp.IsZero() {
		t.Errorf("create: uid=%q resourceVersion=%q creationTimestamp=%v, want all set", created.UID, created.ResourceVersion, created.CreationTimestamp)
	}
	if created.Namespace != ns {
		t.Errorf("create: namespace %q, want %q", created.Namespace, ns)
	}
	spec, ctr := created.Spec, created.Spec.Containers[0]
	for _, d := range []struct {
		field     string
		got, want any
	}{
		{"spec.restartPolicy", spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"spec.dnsPolicy", spec.DNSPolicy, corev1.DNSClusterFirst},
		{"spec.terminationGracePeriodSeconds", deref(spec.TerminationGracePeriodSeconds), int64(30)},
		{"spec.schedulerName", spec.SchedulerName, corev1.DefaultSchedulerName},
		{"spec.securityContext set", spec.SecurityContext != nil, true},
		{"spec.containers[0].imagePullPolicy", ctr.ImagePullPolicy, corev1.PullIfNotPresent},
		{"spec.containers[0].terminationMessagePath", ctr.TerminationMessagePath, "/dev/termination-log"},
		{"spec.containers[0].terminationMessagePolicy", ctr.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"status.phase", created.Status.Phase, corev1.PodPending},
		{"status.qosClass", created.Status.QOSClass, corev1.PodQOSBestEffort},
	} {
		if d.got != d.want {
			t.Errorf("default %s = %v, want %v", d.field, d.got, d.want)
		}
	}

	got, err := pods.Get(ctx, "crud", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
		t.Errorf("get: uid/rv %s/%s, want %s/%s", got.UID, got.ResourceVersion, created.UID, created.ResourceVersion)
	}

	got.Labels["stage"] = "updated"
	got.Spec.Containers[0].Image = "busybox:1.37" // the one mutable container field
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Labels["stage"] != "updated" || updated.Spec.Containers[0].Image != "busybox:1.37" {
		t.Errorf("update not applied: labels %v image %s", updated.Labels, updated.Spec.Containers[0].Image)
	}
	if updated.ResourceVersion == got.ResourceVersion {
		t.Errorf("update kept resourceVersion %s", got.ResourceVersion)
	}

	// Pod specs are otherwise immutable: 422.
	updated.Spec.Containers[0].Command = []string{"sleep", "1"}
	_, err = pods.Update(ctx, updated, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	// Status goes through pods/status; a main update ignores it.
	st, err := pods.Get(ctx, "crud", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.Status.Phase = corev1.PodRunning
	st.Status.PodIP = "10.244.0.7"
	st, err = pods.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Status.Phase != corev1.PodRunning || st.Status.PodIP != "10.244.0.7" {
		t.Errorf("status update not applied: %+v", st.Status)
	}
	st.Status.Phase = corev1.PodFailed
	st.Labels["stage"] = "again"
	main, err := pods.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if main.Status.Phase != corev1.PodRunning {
		t.Errorf("main update changed status.phase to %s; status must only change through pods/status", main.Status.Phase)
	}
	if main.Labels["stage"] != "again" {
		t.Errorf("main update lost its label change: %v", main.Labels)
	}

	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := podNames(list); len(n) != 1 || n[0] != "crud" {
		t.Errorf("list: %v, want [crud]", n)
	}
	if list.ResourceVersion == "" {
		t.Error("list has no resourceVersion")
	}

	// Unscheduled: deleted at once.
	if err := pods.Delete(ctx, "crud", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx, "crud", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
	err = pods.Delete(ctx, "crud", metav1.DeleteOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestGracefulPodDelete(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)

	scheduled := podSpec()
	scheduled.NodeName = "node-a"
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-node"}, Spec: scheduled}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unscheduled"}, Spec: podSpec()}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A pod on a node is only marked: the kubelet confirms its end.
	if err := pods.Delete(ctx, "on-node", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	marked, err := pods.Get(ctx, "on-node", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a scheduled pod must survive a graceful delete, marked: %v", err)
	}
	if marked.DeletionTimestamp == nil {
		t.Error("graceful delete did not set metadata.deletionTimestamp")
	}
	if g := marked.DeletionGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("deletionGracePeriodSeconds = %v, want 30 (the pod's terminationGracePeriodSeconds)", deref(g))
	}
	// gracePeriodSeconds=0 removes it now.
	if err := pods.Delete(ctx, "on-node", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx, "on-node", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)

	// A pod on no node has nobody to confirm: removed at once.
	if err := pods.Delete(ctx, "unscheduled", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = pods.Get(ctx, "unscheduled", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)

	// An explicit grace period is recorded as given.
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "short-grace"}, Spec: scheduled}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "short-grace", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(5))}); err != nil {
		t.Fatal(err)
	}
	marked, err = pods.Get(ctx, "short-grace", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g := marked.DeletionGracePeriodSeconds; g == nil || *g != 5 {
		t.Errorf("deletionGracePeriodSeconds = %v, want 5", deref(g))
	}
}

func TestPodBinding(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "to-bind"}, Spec: podSpec()}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "to-bind"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "node-b"},
	}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	got, err := pods.Get(ctx, "to-bind", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-b" {
		t.Errorf("after binding spec.nodeName = %q, want node-b", got.Spec.NodeName)
	}
	scheduledTrue := false
	for _, cond := range got.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionTrue {
			scheduledTrue = true
		}
	}
	if !scheduledTrue {
		t.Errorf("after binding no PodScheduled=True condition: %+v", got.Status.Conditions)
	}
	// A bound pod cannot be bound again: 409.
	binding.Target.Name = "node-c"
	err = pods.Bind(ctx, binding, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusConflict, metav1.StatusReasonConflict)
	// Binding a missing pod: 404.
	binding.Name = "no-such-pod"
	err = pods.Bind(ctx, binding, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("bind missing pod: want 404, got %v", err)
	}
}

func TestPodEviction(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	pods := cs.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evictee"}, Spec: podSpec()}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evictee", Namespace: ns}}
	if err := pods.EvictV1(ctx, eviction); err != nil {
		t.Fatalf("evict: %v", err)
	}
	_, err := pods.Get(ctx, "evictee", metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)

	// A scheduled pod is evicted gracefully: marked for deletion.
	scheduled := podSpec()
	scheduled.NodeName = "node-a"
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "evictee-on-node"}, Spec: scheduled}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "evictee-on-node", Namespace: ns}}); err != nil {
		t.Fatalf("evict scheduled pod: %v", err)
	}
	got, err := pods.Get(ctx, "evictee-on-node", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("evicted scheduled pod must be marked, not removed: %v", err)
	}
	if got.DeletionTimestamp == nil {
		t.Error("evicted scheduled pod has no deletionTimestamp")
	}

	err = pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "no-such-pod", Namespace: ns}})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}
