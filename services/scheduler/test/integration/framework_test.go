// Package integration runs drover-scheduler in-process against a real
// in-process drover-apiserver (embedded etcd) with hollow nodes: Node
// objects with capacity, labels, taints and a Ready condition, and no
// kubelet.
package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/scheduler/app/options"
	schedtesting "drover.dev/scheduler/app/testing"
)

type cluster struct {
	cfg *rest.Config
	cs  kubernetes.Interface
	ns  string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	api := apitesting.StartTestServer(t, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{cfg: api.Config, cs: cs, ns: "test"}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) startScheduler(t *testing.T, customize func(*options.Options)) *schedtesting.TestServer {
	t.Helper()
	return schedtesting.StartTestServer(t, c.cfg, customize)
}

// hollowNode describes a node to create.
type hollowNode struct {
	name   string
	cpu    string
	memory string
	pods   int
	labels map[string]string
	taints []v1.Taint
	images []v1.ContainerImage
}

// addNode creates a Ready node and lifts the not-ready taint the apiserver
// puts on new nodes, as a node lifecycle controller would.
func (c *cluster) addNode(t *testing.T, n hollowNode) {
	t.Helper()
	if err := createHollowNode(context.Background(), c.cs, n); err != nil {
		t.Fatal(err)
	}
}

func createHollowNode(ctx context.Context, cs kubernetes.Interface, n hollowNode) error {
	if n.cpu == "" {
		n.cpu = "4"
	}
	if n.memory == "" {
		n.memory = "16Gi"
	}
	if n.pods == 0 {
		n.pods = 110
	}
	lbl := map[string]string{v1.LabelHostname: n.name, v1.LabelOSStable: "linux"}
	for k, v := range n.labels {
		lbl[k] = v
	}
	res := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse(n.cpu),
		v1.ResourceMemory: resource.MustParse(n.memory),
		v1.ResourcePods:   *resource.NewQuantity(int64(n.pods), resource.DecimalSI),
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: lbl},
		Spec:       v1.NodeSpec{Taints: n.taints},
		Status: v1.NodeStatus{
			Capacity: res, Allocatable: res, Images: n.images,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now()}},
		},
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", n.name, err)
	}
	// Node status is a subresource on Kubernetes; set it in case create dropped it.
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = node.Status
		if created, err = cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node status %s: %w", n.name, err)
		}
	}
	var taints []v1.Taint
	for _, tn := range created.Spec.Taints {
		if tn.Key != v1.TaintNodeNotReady {
			taints = append(taints, tn)
		}
	}
	if len(taints) != len(created.Spec.Taints) {
		created.Spec.Taints = taints
		if _, err := cs.CoreV1().Nodes().Update(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("untaint node %s: %w", n.name, err)
		}
	}
	return nil
}

func requests(cpu, mem string) v1.ResourceRequirements {
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	return v1.ResourceRequirements{Requests: rl}
}

func newPod(name string, mutate ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "test"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "c", Image: "registry.example/app:1", Resources: requests("100m", "64Mi"),
		}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func (c *cluster) createPod(t *testing.T, p *v1.Pod) *v1.Pod {
	t.Helper()
	out, err := c.cs.CoreV1().Pods(c.ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

func (c *cluster) getPod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	p, err := c.cs.CoreV1().Pods(c.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// eventually polls fn until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %v", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (c *cluster) waitScheduled(t *testing.T, name string) string {
	t.Helper()
	var node string
	eventually(t, 20*time.Second, func() error {
		p := c.getPod(t, name)
		if p.Spec.NodeName == "" {
			return fmt.Errorf("pod %s not scheduled", name)
		}
		node = p.Spec.NodeName
		return nil
	})
	return node
}

// waitUnschedulable waits for PodScheduled=False/Unschedulable and
// returns its message.
func (c *cluster) waitUnschedulable(t *testing.T, name string) string {
	t.Helper()
	return c.waitUnschedulableWith(t, name, "")
}

// waitUnschedulableWith waits until the pod's Unschedulable message contains
// want: an earlier attempt may have failed for another reason (an object
// the scheduler had not seen yet), and the pod is retried when it arrives.
func (c *cluster) waitUnschedulableWith(t *testing.T, name, want string) string {
	t.Helper()
	var msg string
	eventually(t, 20*time.Second, func() error {
		p := c.getPod(t, name)
		if p.Spec.NodeName != "" {
			return fmt.Errorf("pod %s was scheduled to %s", name, p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				if !strings.Contains(msg, want) {
					return fmt.Errorf("pod %s is unschedulable: %q, want it to contain %q", name, msg, want)
				}
				return nil
			}
		}
		return fmt.Errorf("pod %s has no Unschedulable condition", name)
	})
	return msg
}

// events returns the messages of events of a reason about a pod.
func (c *cluster) events(t *testing.T, podName, reason string) []string {
	t.Helper()
	list, err := c.cs.CoreV1().Events(c.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": podName}.AsSelector().String(),
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Reason == reason && e.InvolvedObject.Name == podName {
			out = append(out, e.Message)
		}
	}
	return out
}

func (c *cluster) waitEvent(t *testing.T, podName, reason, contains string) string {
	t.Helper()
	var got string
	eventually(t, 20*time.Second, func() error {
		for _, m := range c.events(t, podName, reason) {
			if strings.Contains(m, contains) {
				got = m
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s containing %q (have %q)", reason, podName, contains, c.events(t, podName, reason))
	})
	return got
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
