package clientgo

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/e2e/framework"
)

func TestNodeLifecycle(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	nodes := cs.CoreV1().Nodes()
	name := "e2e-node-" + framework.RandSuffix()
	t.Cleanup(func() { _ = nodes.Delete(ctx, name, metav1.DeleteOptions{}) })

	n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e": "yes"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Namespace != "" {
		t.Errorf("node has namespace %q; nodes are cluster-scoped", n.Namespace)
	}
	// A new node is not ready until its kubelet says so.
	tainted := false
	for _, taint := range n.Spec.Taints {
		if taint.Key == "node.kubernetes.io/not-ready" && taint.Effect == corev1.TaintEffectNoSchedule {
			tainted = true
		}
	}
	if !tainted {
		t.Errorf("new node taints %+v, want node.kubernetes.io/not-ready:NoSchedule", n.Spec.Taints)
	}

	// Status through nodes/status.
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.7"}}
	n.Status.NodeInfo.KubeletVersion = "v1.37.2"
	st, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update node status: %v", err)
	}
	if len(st.Status.Conditions) != 1 || st.Status.Addresses[0].Address != "10.0.0.7" {
		t.Errorf("node status not stored: %+v", st.Status)
	}
	// The main resource ignores status.
	st.Status.Addresses = nil
	st.Spec.Unschedulable = true
	up, err := nodes.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !up.Spec.Unschedulable || len(up.Status.Addresses) != 1 {
		t.Errorf("node update: unschedulable %v addresses %v", up.Spec.Unschedulable, up.Status.Addresses)
	}

	list, err := nodes.List(ctx, metav1.ListOptions{LabelSelector: "e2e=yes", FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Errorf("list nodes by label and name: %d items", len(list.Items))
	}
	// Nodes do not live in namespaces.
	err = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default/nodes", name).Do(ctx).Error()
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)

	if err := nodes.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = nodes.Get(ctx, name, metav1.GetOptions{})
	wantStatus(t, err, http.StatusNotFound, metav1.StatusReasonNotFound)
}
