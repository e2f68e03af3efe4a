package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hollowKubelet finishes graceful deletions, as a kubelet would, since
// hollow nodes have none.
func (c *cluster) hollowKubelet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			pods, err := c.cs.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for _, p := range pods.Items {
					if p.DeletionTimestamp != nil {
						_ = c.cs.CoreV1().Pods(c.ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func (c *cluster) priorityClass(t *testing.T, name string, value int32) {
	t.Helper()
	if _, err := c.cs.SchedulingV1().PriorityClasses().Create(context.Background(), &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func withPriority(class string) func(*v1.Pod) {
	return func(p *v1.Pod) { p.Spec.PriorityClassName = class }
}

func TestPreemptionHonoursPDB(t *testing.T) {
	c := startCluster(t)
	c.priorityClass(t, "low", 100)
	c.priorityClass(t, "high", 1000)
	c.addNode(t, hollowNode{name: "node-a", cpu: "1"})
	c.addNode(t, hollowNode{name: "node-b", cpu: "1"})
	c.hollowKubelet(t)
	c.startScheduler(t, nil)

	// Each node is full with one low-priority pod; the one on the node
	// picked first is protected by a PDB that allows no disruption.
	c.createPod(t, newPod("low-0", withPriority("low"), func(p *v1.Pod) {
		p.Labels = map[string]string{"app": "protected"}
		p.Spec.Containers[0].Resources = requests("800m", "")
	}))
	protectedNode := c.waitScheduled(t, "low-0")
	c.createPod(t, newPod("low-1", withPriority("low"), func(p *v1.Pod) { p.Spec.Containers[0].Resources = requests("800m", "") }))
	otherNode := c.waitScheduled(t, "low-1")
	if otherNode == protectedNode {
		t.Fatalf("both low pods on %s", otherNode)
	}
	pdb, err := c.cs.PolicyV1().PodDisruptionBudgets(c.ns).Create(context.Background(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "protected"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &intstr.IntOrString{IntVal: 1}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "protected"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1, ObservedGeneration: pdb.Generation}
	if _, err := c.cs.PolicyV1().PodDisruptionBudgets(c.ns).UpdateStatus(context.Background(), pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the PDB reach the scheduler's informer

	c.createPod(t, newPod("high", withPriority("high"), func(p *v1.Pod) { p.Spec.Containers[0].Resources = requests("800m", "") }))
	eventually(t, 20*time.Second, func() error {
		p := c.getPod(t, "high")
		if p.Status.NominatedNodeName == "" && p.Spec.NodeName == "" {
			return fmt.Errorf("high has neither nomination nor node")
		}
		return nil
	})
	if n := c.waitScheduled(t, "high"); n != otherNode {
		t.Fatalf("high on %s, want %s (the node without PDB-protected pods)", n, otherNode)
	}
	// The victim is gone, the protected pod stays.
	eventually(t, 10*time.Second, func() error {
		_, err := c.cs.CoreV1().Pods(c.ns).Get(context.Background(), "low-1", metav1.GetOptions{})
		if ignoreNotFound(err) != nil {
			return err
		}
		if err == nil {
			return fmt.Errorf("victim low-1 still exists")
		}
		return nil
	})
	c.getPod(t, "low-0")
	// The victim has a Preempted event naming the preemptor and the node.
	high := c.getPod(t, "high")
	wantMsg := fmt.Sprintf("Preempted by pod %s on node %s", high.UID, otherNode)
	eventually(t, 10*time.Second, func() error {
		evs, err := c.cs.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "low-1" && e.Reason == "Preempted" && e.Type == v1.EventTypeNormal && e.Message == wantMsg {
				return nil
			}
		}
		return fmt.Errorf("no Preempted event %q on low-1 among %d events", wantMsg, len(evs.Items))
	})

	// A pod that may not preempt waits.
	never := v1.PreemptNever
	c.createPod(t, newPod("polite", withPriority("high"), func(p *v1.Pod) {
		p.Spec.Containers[0].Resources = requests("800m", "")
		p.Spec.PreemptionPolicy = &never
	}))
	msg := c.waitUnschedulable(t, "polite")
	want := "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
	if msg != want {
		t.Fatalf("message\n got: %s\nwant: %s", msg, want)
	}
}
