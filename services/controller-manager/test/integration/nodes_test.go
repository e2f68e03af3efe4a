package integration

import (
	"fmt"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/controller-manager/app/options"
	"drover.dev/libs/hollow"
)

func TestNodeIPAM(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) {
		o.Controllers = []string{"nodeipam"}
		o.ClusterCIDR = "10.244.0.0/23"
	})
	cidrs := func() (map[string]string, error) {
		l, err := e.client.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, n := range l.Items {
			if n.Spec.PodCIDR == "" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
				return nil, fmt.Errorf("node %s: podCIDR %q %v", n.Name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
			}
			out[n.Name] = n.Spec.PodCIDR
		}
		return out, nil
	}
	var got map[string]string
	eventually(t, 30*time.Second, func() error {
		var err error
		got, err = cidrs()
		return err
	})
	if len(got) != 2 || got["hollow-node-0"] == got["hollow-node-1"] {
		t.Fatalf("cidrs %v", got)
	}
	freed := got["hollow-node-1"]
	if err := e.client.CoreV1().Nodes().Delete(e.ctx, "hollow-node-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The range holds two /24s: a new node only fits once the old one's is free.
	if _, err := e.client.CoreV1().Nodes().Create(e.ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		n, err := e.client.CoreV1().Nodes().Get(e.ctx, "late", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Spec.PodCIDR != freed {
			return fmt.Errorf("late got %q, want %q", n.Spec.PodCIDR, freed)
		}
		return nil
	})
}

func TestNodeLifecycleEvictsFromDeadNode(t *testing.T) {
	e := setup(t, 3, func(o *options.Options) {
		o.Controllers = []string{"replicaset", "nodelifecycle", "podgc"}
		o.NodeMonitorPeriod = 200 * time.Millisecond
		o.NodeMonitorGracePeriod = 3 * time.Second
		o.NodeEvictionRate = 10
		o.DefaultUnreachableTolerationSeconds = 1
		o.DefaultNotReadyTolerationSeconds = 1
		o.PodGCPeriod = 500 * time.Millisecond
	}, func(o *hollow.Options) { o.RenewInterval = 500 * time.Millisecond })
	// New nodes lose the apiserver's not-ready:NoSchedule taint once Ready.
	eventually(t, 30*time.Second, func() error {
		l, err := e.client.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, n := range l.Items {
			if len(n.Spec.Taints) != 0 {
				return fmt.Errorf("node %s taints %v", n.Name, n.Spec.Taints)
			}
		}
		return nil
	})
	ns := newNamespace(t, e, "lifecycle")
	labels := map[string]string{"app": "spread"}
	rs := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "spread"},
		Spec: apps.ReplicaSetSpec{Replicas: ptr(int32(6)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels, "nginx")}}
	if _, err := e.client.AppsV1().ReplicaSets(ns).Create(e.ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSet(t, e, ns, "spread", 6)
	victim := "hollow-node-1"
	e.nodes.Kill(victim)
	eventually(t, 30*time.Second, func() error {
		n, err := e.client.CoreV1().Nodes().Get(e.ctx, victim, metav1.GetOptions{})
		if err != nil {
			return err
		}
		unknown, tainted := false, false
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady && c.Status == v1.ConditionUnknown {
				unknown = true
			}
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == v1.TaintNodeUnreachable && tn.Effect == v1.TaintEffectNoExecute {
				tainted = true
			}
		}
		if !unknown || !tainted {
			return fmt.Errorf("node %s: conditions %v taints %v", victim, n.Status.Conditions, n.Spec.Taints)
		}
		return nil
	})
	// Its pods are evicted and replaced on live nodes.
	eventually(t, 60*time.Second, func() error {
		pods, err := activePods(e, ns, "app=spread")
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods {
			if p.Spec.NodeName == victim {
				return fmt.Errorf("pod %s still active on %s", p.Name, victim)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
					ready++
				}
			}
		}
		if ready != 6 {
			return fmt.Errorf("%d ready pods on live nodes", ready)
		}
		return nil
	})
	// Pod GC force-deletes the terminating pods once the dead node is removed.
	if err := e.client.CoreV1().Nodes().Delete(e.ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, func() error {
		l, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + victim})
		if err != nil {
			return err
		}
		if len(l.Items) != 0 {
			return fmt.Errorf("%d pods left on deleted node", len(l.Items))
		}
		return nil
	})
}

// With every node down the fault is likely not the nodes' (as on
// Kubernetes): NoExecute taints are lifted and no pod is evicted.
func TestNodeLifecycleAllNodesDownEvictsNothing(t *testing.T) {
	e := setup(t, 2, func(o *options.Options) {
		o.Controllers = []string{"replicaset", "nodelifecycle"}
		o.NodeMonitorPeriod = 200 * time.Millisecond
		o.NodeMonitorGracePeriod = 3 * time.Second
		o.NodeEvictionRate = 10
		o.DefaultUnreachableTolerationSeconds = 3
		o.DefaultNotReadyTolerationSeconds = 3
	}, func(o *hollow.Options) { o.RenewInterval = 500 * time.Millisecond })
	ns := newNamespace(t, e, "alldown")
	labels := map[string]string{"app": "stay"}
	rs := &apps.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "stay"},
		Spec: apps.ReplicaSetSpec{Replicas: ptr(int32(4)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels, "nginx")}}
	if _, err := e.client.AppsV1().ReplicaSets(ns).Create(e.ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReplicaSet(t, e, ns, "stay", 4)
	for _, n := range e.nodes.NodeNames() {
		e.nodes.Kill(n)
	}
	check := func() error {
		l, err := e.client.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, n := range l.Items {
			unknown := false
			for _, c := range n.Status.Conditions {
				unknown = unknown || c.Type == v1.NodeReady && c.Status == v1.ConditionUnknown
			}
			if !unknown {
				return fmt.Errorf("node %s not marked unknown yet", n.Name)
			}
			for _, tn := range n.Spec.Taints {
				if tn.Effect == v1.TaintEffectNoExecute {
					return fmt.Errorf("node %s keeps NoExecute taint %s", n.Name, tn.Key)
				}
			}
		}
		pods, err := activePods(e, ns, "app=stay")
		if err != nil {
			return err
		}
		if len(pods) != 4 {
			return fmt.Errorf("%d active pods, want 4: evicted with every node down", len(pods))
		}
		return nil
	}
	eventually(t, 30*time.Second, check)
	// It stays so past the tolerations.
	for range 25 {
		time.Sleep(200 * time.Millisecond)
		if err := check(); err != nil {
			t.Fatal(err)
		}
	}
}
