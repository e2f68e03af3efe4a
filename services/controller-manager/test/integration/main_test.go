// Package integration runs the controller-manager against a real in-process
// apiserver (with embedded etcd) and hollow kubelets.
package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/controller-manager/app/options"
	cmtesting "drover.dev/controller-manager/app/testing"
	"drover.dev/libs/hollow"
)

type env struct {
	rc     *rest.Config
	client kubernetes.Interface
	nodes  *hollow.Cluster
	ctx    context.Context
}

// setup starts an apiserver, hollow nodes (binding unscheduled pods) and the
// controller-manager.
func setup(t *testing.T, nodes int, customize func(*options.Options), hopts ...func(*hollow.Options)) *env {
	t.Helper()
	api := apitesting.StartTestServer(t, "", nil)
	cs, err := kubernetes.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{rc: api.Config, client: cs, ctx: ctx}
	if nodes > 0 {
		ho := hollow.Options{Nodes: nodes, BindUnscheduled: true}
		for _, f := range hopts {
			f(&ho)
		}
		e.nodes, err = hollow.Start(ctx, cs, ho)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.nodes.Stop)
	}
	cmtesting.StartTestServer(t, api.Config, customize)
	return e
}

// eventually polls fn until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func podTemplate(labels map[string]string, image string) v1.PodTemplateSpec {
	return v1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: image,
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

func newNamespace(t *testing.T, e *env, name string) string {
	t.Helper()
	_, err := e.client.CoreV1().Namespaces().Create(e.ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// activePods lists the pods of ns matching selector that are not being deleted.
func activePods(e *env, ns, selector string) ([]v1.Pod, error) {
	l, err := e.client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []v1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func waitReplicaSet(t *testing.T, e *env, ns, name string, replicas int32) *apps.ReplicaSet {
	t.Helper()
	var rs *apps.ReplicaSet
	eventually(t, 60*time.Second, func() error {
		var err error
		rs, err = e.client.AppsV1().ReplicaSets(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := rs.Status
		if s.ObservedGeneration != rs.Generation || s.Replicas != replicas || s.ReadyReplicas != replicas ||
			s.AvailableReplicas != replicas || s.FullyLabeledReplicas != replicas {
			return fmt.Errorf("replicaset %s status %+v, want %d", name, s, replicas)
		}
		pods, err := activePods(e, ns, metav1.FormatLabelSelector(rs.Spec.Selector))
		if err != nil {
			return err
		}
		if len(pods) != int(replicas) {
			return fmt.Errorf("%d pods, want %d", len(pods), replicas)
		}
		return nil
	})
	return rs
}
