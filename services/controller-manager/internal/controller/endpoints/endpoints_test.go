package endpoints

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func mkPod(name, ip string, ready bool, mutate func(*v1.Pod)) *v1.Pod {
	st := v1.ConditionFalse
	if ready {
		st = v1.ConditionTrue
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Ports: []v1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: st}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestSubsets(t *testing.T) {
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: v1.ServiceSpec{Ports: []v1.ServicePort{
		{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("http")}}}}
	now := metav1.NewTime(time.Now())
	pods := []*v1.Pod{
		mkPod("b", "10.0.0.2", true, nil),
		mkPod("a", "10.0.0.1", true, func(p *v1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a0", "web" }),
		mkPod("c", "10.0.0.3", false, nil),
		mkPod("noip", "", true, nil),
		mkPod("done", "10.0.0.4", true, func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }),
		mkPod("leaving", "10.0.0.5", true, func(p *v1.Pod) { p.DeletionTimestamp = &now }),
		mkPod("noport", "10.0.0.6", true, func(p *v1.Pod) { p.Spec.Containers[0].Ports = nil }),
	}
	subsets, total := Subsets(svc, pods)
	if total != 3 || len(subsets) != 1 {
		t.Fatalf("total %d subsets %+v", total, subsets)
	}
	s := subsets[0]
	if len(s.Addresses) != 2 || s.Addresses[0].IP != "10.0.0.1" || s.Addresses[0].Hostname != "a0" || s.Addresses[1].Hostname != "" {
		t.Fatalf("addresses %+v", s.Addresses)
	}
	if len(s.NotReadyAddresses) != 1 || s.NotReadyAddresses[0].IP != "10.0.0.3" {
		t.Fatalf("not ready %+v", s.NotReadyAddresses)
	}
	if len(s.Ports) != 1 || s.Ports[0].Port != 8080 || s.Ports[0].Name != "http" {
		t.Fatalf("ports %+v", s.Ports)
	}
	svc.Spec.PublishNotReadyAddresses = true
	subsets, _ = Subsets(svc, pods)
	if len(subsets[0].Addresses) != 3 || len(subsets[0].NotReadyAddresses) != 0 {
		t.Fatalf("publishNotReadyAddresses: %+v", subsets)
	}
}

func TestSubsetsHeadlessWithoutPorts(t *testing.T) {
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hl", Namespace: "ns"}, Spec: v1.ServiceSpec{ClusterIP: v1.ClusterIPNone}}
	subsets, total := Subsets(svc, []*v1.Pod{mkPod("a", "10.0.0.1", true, nil)})
	if total != 1 || len(subsets) != 1 || len(subsets[0].Ports) != 0 {
		t.Fatalf("subsets %+v", subsets)
	}
}

func TestTruncate(t *testing.T) {
	subsets := []v1.EndpointSubset{{Addresses: make([]v1.EndpointAddress, 3), NotReadyAddresses: make([]v1.EndpointAddress, 3)}}
	got := truncate(subsets, 4)
	if len(got[0].Addresses) != 3 || len(got[0].NotReadyAddresses) != 1 {
		t.Fatalf("truncated to %d+%d", len(got[0].Addresses), len(got[0].NotReadyAddresses))
	}
}
