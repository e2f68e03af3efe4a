package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// zonedCluster is a controller over fake nodes n1 (zone a) and n2 (zone b),
// both Ready, and a pod on n1 that tolerates unreachable for no time.
type zonedCluster struct {
	t      *testing.T
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	now    time.Time
}

func newZonedCluster(t *testing.T) *zonedCluster {
	var objs []runtime.Object
	for i, zone := range []string{"a", "b"} {
		name := []string{"n1", "n2"}[i]
		renew := metav1.NewMicroTime(time.Unix(1000, 0))
		objs = append(objs,
			&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelTopologyZone: zone}},
				Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}},
			&coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace}, Spec: coordv1.LeaseSpec{RenewTime: &renew}})
	}
	objs = append(objs, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "p-uid"},
		Spec: v1.PodSpec{NodeName: "n1", Tolerations: []v1.Toleration{{Key: v1.TaintNodeUnreachable, Operator: v1.TolerationOpExists,
			Effect: v1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(0))}}},
		Status: v1.PodStatus{Phase: v1.PodRunning}})
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(), settings(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := &zonedCluster{t: t, c: c, client: client, f: f, now: time.Unix(2000, 0)}
	c.now = func() time.Time { return z.now }
	z.refresh()
	return z
}

// refresh copies the fake API's state into the informer caches.
func (z *zonedCluster) refresh() {
	ctx := context.Background()
	nodes, _ := z.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for i := range nodes.Items {
		_ = z.f.Core().V1().Nodes().Informer().GetIndexer().Update(&nodes.Items[i])
	}
	leases, _ := z.client.CoordinationV1().Leases(LeaseNamespace).List(ctx, metav1.ListOptions{})
	for i := range leases.Items {
		_ = z.f.Coordination().V1().Leases().Informer().GetIndexer().Update(&leases.Items[i])
	}
	pods, _ := z.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	for i := range pods.Items {
		_ = z.f.Core().V1().Pods().Informer().GetIndexer().Update(&pods.Items[i])
	}
}

// pass advances the clock, renews the named nodes' leases and monitors.
func (z *zonedCluster) pass(d time.Duration, renew ...string) {
	z.now = z.now.Add(d)
	for _, name := range renew {
		t := metav1.NewMicroTime(z.now)
		_, err := z.client.CoordinationV1().Leases(LeaseNamespace).Update(context.Background(), &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace}, Spec: coordv1.LeaseSpec{RenewTime: &t}}, metav1.UpdateOptions{})
		if err != nil {
			z.t.Fatal(err)
		}
	}
	z.refresh()
	z.c.monitor(context.Background())
	z.refresh()
}

func (z *zonedCluster) noExecute(name string) []string {
	n, err := z.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		z.t.Fatal(err)
	}
	var keys []string
	for _, t := range n.Spec.Taints {
		if t.Effect == v1.TaintEffectNoExecute {
			keys = append(keys, t.Key)
		}
	}
	return keys
}

func TestFullyDisruptedZoneIsTaintedWhileOthersAreUp(t *testing.T) {
	z := newZonedCluster(t)
	z.pass(0, "n1", "n2")
	z.pass(41*time.Second, "n2")
	if got := z.noExecute("n1"); !slices.Equal(got, []string{v1.TaintNodeUnreachable}) {
		t.Fatalf("n1 (zone a down, zone b up) NoExecute taints %v, want unreachable at the normal rate", got)
	}
	if got := z.noExecute("n2"); len(got) != 0 {
		t.Fatalf("n2 taints %v", got)
	}
}

func TestAllZonesDownStopsEvictions(t *testing.T) {
	ctx := context.Background()
	z := newZonedCluster(t)
	z.pass(0, "n1", "n2")
	z.pass(41*time.Second, "n2")
	if got := z.noExecute("n1"); len(got) != 1 {
		t.Fatalf("n1 not tainted: %v", got)
	}
	// n2 goes silent too: every zone is down. The taints go and stay gone,
	// and the pod on n1 is not evicted although its toleration ran out.
	z.pass(41 * time.Second)
	for range 3 {
		for _, n := range []string{"n1", "n2"} {
			if got := z.noExecute(n); len(got) != 0 {
				t.Fatalf("%s keeps NoExecute taints %v with all zones down", n, got)
			}
		}
		z.c.evict(ctx)
		if _, err := z.client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{}); err != nil {
			t.Fatalf("pod evicted with all zones down: %v", err)
		}
		z.pass(5 * time.Second)
	}
	// n2 comes back: normal mode, and n1, still silent, is tainted again.
	n2, _ := z.client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	n2.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	if _, err := z.client.CoreV1().Nodes().UpdateStatus(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	z.pass(time.Second, "n2")
	z.pass(time.Second, "n2")
	if got := z.noExecute("n1"); !slices.Equal(got, []string{v1.TaintNodeUnreachable}) {
		t.Fatalf("n1 after recovery of zone b: taints %v", got)
	}
	if got := z.noExecute("n2"); len(got) != 0 {
		t.Fatalf("n2 taints %v", got)
	}
	z.c.evict(ctx)
	if _, err := z.client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{}); err == nil {
		t.Fatal("pod not evicted once evictions resumed")
	}
}

func TestZoneStates(t *testing.T) {
	c := &Controller{s: settings()}
	tests := []struct {
		size, notReady int
		want           zoneState
		qps            float32
	}{
		{10, 0, stateNormal, 100},
		{10, 2, stateNormal, 100},
		{10, 6, statePartialDisruption, 0},
		{60, 40, statePartialDisruption, 1},
		{4, 4, stateFullDisruption, 100},
	}
	for _, tt := range tests {
		s := c.zoneState(tt.size, tt.notReady)
		if s != tt.want || c.zoneQPS(s, tt.size) != tt.qps {
			t.Errorf("%d/%d not ready: %s at %v qps, want %s at %v", tt.notReady, tt.size, s, c.zoneQPS(s, tt.size), tt.want, tt.qps)
		}
	}
}
