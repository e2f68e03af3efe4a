package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBasicSchedulingAndResourcesExhausted(t *testing.T) {
	c := startCluster(t)
	c.addNode(t, hollowNode{name: "node-a", cpu: "1", memory: "2Gi"})
	c.addNode(t, hollowNode{name: "node-b", cpu: "1", memory: "2Gi"})
	c.addNode(t, hollowNode{name: "node-c", cpu: "8", memory: "16Gi", taints: []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}})
	c.startScheduler(t, nil)

	// Two pods of 600m fill node-a and node-b (one each).
	for i := range 2 {
		c.createPod(t, newPod(fmt.Sprintf("big-%d", i), func(p *v1.Pod) { p.Spec.Containers[0].Resources = requests("600m", "1Gi") }))
	}
	nodes := map[string]bool{}
	for i := range 2 {
		nodes[c.waitScheduled(t, fmt.Sprintf("big-%d", i))] = true
	}
	if !nodes["node-a"] || !nodes["node-b"] {
		t.Fatalf("big pods landed on %v, want node-a and node-b", nodes)
	}
	c.waitEvent(t, "big-0", "Scheduled", "Successfully assigned test/big-0 to node-")

	// A third does not fit: cpu on a and b, the taint on c.
	c.createPod(t, newPod("big-2", func(p *v1.Pod) { p.Spec.Containers[0].Resources = requests("600m", "1Gi") }))
	msg := c.waitUnschedulable(t, "big-2")
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
	if msg != want {
		t.Fatalf("condition message\n got: %s\nwant: %s", msg, want)
	}
	ev := c.waitEvent(t, "big-2", "FailedScheduling", "0/3 nodes are available")
	if ev != want {
		t.Fatalf("event message\n got: %s\nwant: %s", ev, want)
	}

	// Deleting a big pod frees room: the pending pod is retried on the event.
	if err := c.cs.CoreV1().Pods(c.ns).Delete(context.Background(), "big-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	node := c.waitScheduled(t, "big-2")
	if node == "node-c" {
		t.Fatalf("big-2 landed on the tainted node")
	}
}

func TestTaintsAndTolerations(t *testing.T) {
	c := startCluster(t)
	c.addNode(t, hollowNode{name: "plain"})
	c.addNode(t, hollowNode{name: "gpu", taints: []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoSchedule}}, labels: map[string]string{"gpu": "true"}})
	c.addNode(t, hollowNode{name: "soft", taints: []v1.Taint{{Key: "spot", Effect: v1.TaintEffectPreferNoSchedule}}})
	c.startScheduler(t, nil)

	tolerant := func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}
		p.Spec.NodeSelector = map[string]string{"gpu": "true"}
	}
	c.createPod(t, newPod("tolerant", tolerant))
	if n := c.waitScheduled(t, "tolerant"); n != "gpu" {
		t.Fatalf("tolerant pod on %s, want gpu", n)
	}
	// Without toleration, pods avoid gpu and prefer plain over soft.
	for i := range 4 {
		c.createPod(t, newPod(fmt.Sprintf("plain-%d", i)))
		if n := c.waitScheduled(t, fmt.Sprintf("plain-%d", i)); n == "gpu" {
			t.Fatalf("untolerating pod on the tainted node")
		}
	}
	// A selector only the tainted node matches, without toleration.
	c.createPod(t, newPod("stuck", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"gpu": "true"} }))
	msg := c.waitUnschedulable(t, "stuck")
	if !strings.HasPrefix(msg, "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector.") {
		t.Fatalf("message: %s", msg)
	}
}
