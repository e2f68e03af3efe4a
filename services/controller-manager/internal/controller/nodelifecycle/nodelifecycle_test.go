package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func settings() Settings {
	return Settings{MonitorPeriod: time.Second, GracePeriod: 40 * time.Second, StartupGracePeriod: time.Minute,
		EvictionRate: 100, SecondaryEvictionRate: 1, LargeClusterThreshold: 50, UnhealthyZoneThreshold: 0.55,
		DefaultNotReadyTolerationSeconds: 300, DefaultUnreachableTolerationSeconds: 200}
}

func TestEvictionTime(t *testing.T) {
	added := metav1.NewTime(time.Unix(1000, 0))
	unreachable := v1.Taint{Key: v1.TaintNodeUnreachable, Effect: v1.TaintEffectNoExecute, TimeAdded: &added}
	custom := v1.Taint{Key: "example.com/drain", Value: "yes", Effect: v1.TaintEffectNoExecute, TimeAdded: &added}
	tests := []struct {
		name        string
		tolerations []v1.Toleration
		taints      []v1.Taint
		wantOK      bool
		wantAfter   time.Duration
	}{
		{"default toleration for unreachable", nil, []v1.Taint{unreachable}, true, 200 * time.Second},
		{"own toleration seconds", []v1.Toleration{{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(5))}}, []v1.Taint{unreachable}, true, 5 * time.Second},
		{"tolerates forever", []v1.Toleration{{Operator: v1.TolerationOpExists}}, []v1.Taint{unreachable, custom}, false, 0},
		{"untolerated custom taint evicts now", nil, []v1.Taint{custom}, true, 0},
		{"equal operator needs the value", []v1.Toleration{{Key: "example.com/drain", Value: "no", Effect: v1.TaintEffectNoExecute}}, []v1.Taint{custom}, true, 0},
		{"matching value tolerates", []v1.Toleration{{Key: "example.com/drain", Value: "yes"}}, []v1.Taint{custom}, false, 0},
	}
	c := &Controller{s: settings()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &v1.Pod{Spec: v1.PodSpec{Tolerations: tt.tolerations}}
			at, ok := c.evictionTime(p, tt.taints)
			if ok != tt.wantOK || (ok && at.Sub(added.Time) != tt.wantAfter) {
				t.Fatalf("got %v %v, want %v after %s", at, ok, tt.wantOK, tt.wantAfter)
			}
		})
	}
}

func TestMonitorMarksSilentNodeAndTaints(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec:   v1.NodeSpec{Taints: []v1.Taint{{Key: v1.TaintNodeNotReady, Effect: v1.TaintEffectNoSchedule}}},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}}
	other := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}}
	renew := metav1.NewMicroTime(time.Unix(1000, 0))
	lease := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: LeaseNamespace}, Spec: coordv1.LeaseSpec{RenewTime: &renew}}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: v1.PodSpec{NodeName: "n1"},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}}
	client := fake.NewClientset(node, other, lease, pod)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(), settings(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []any{node, other} {
		_ = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
	}
	_ = f.Coordination().V1().Leases().Informer().GetIndexer().Add(lease)
	_ = f.Core().V1().Pods().Informer().GetIndexer().Add(pod)
	ctx := context.Background()

	// A Ready node loses the not-ready NoSchedule taint.
	if err := c.syncNoSchedule(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	got, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if len(got.Spec.Taints) != 0 {
		t.Fatalf("taints %v", got.Spec.Taints)
	}

	now := time.Unix(2000, 0)
	c.now = func() time.Time { return now }
	c.monitor(ctx)
	now = now.Add(41 * time.Second)
	// n2 keeps renewing: only n1 is down, so the zone is not fully disrupted.
	renewed := metav1.NewMicroTime(now)
	_ = f.Coordination().V1().Leases().Informer().GetIndexer().Add(&coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n2", Namespace: LeaseNamespace}, Spec: coordv1.LeaseSpec{RenewTime: &renewed}})
	c.monitor(ctx)
	got, _ = client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if readyStatus(got) != v1.ConditionUnknown {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	// (The fake client's status update also writes spec, so only the
	// NoExecute taint is checked here.)
	if !slices.ContainsFunc(got.Spec.Taints, func(tn v1.Taint) bool {
		return tn.Key == v1.TaintNodeUnreachable && tn.Effect == v1.TaintEffectNoExecute && tn.TimeAdded != nil
	}) {
		t.Fatalf("taints %+v", got.Spec.Taints)
	}
	p, _ := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
	if p.Status.Conditions[0].Status != v1.ConditionFalse {
		t.Fatalf("pod not marked not ready: %+v", p.Status.Conditions)
	}
	if n2, _ := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{}); readyStatus(n2) != v1.ConditionTrue || len(n2.Spec.Taints) != 0 {
		t.Fatalf("n2 %+v %+v", n2.Status.Conditions, n2.Spec.Taints)
	}
}
