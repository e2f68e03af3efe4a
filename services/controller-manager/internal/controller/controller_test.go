package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	if !e.Satisfied("ns/rs") {
		t.Fatal("unknown key must be satisfied")
	}
	e.Expect("ns/rs", 2, []string{"ns/a"})
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with work outstanding")
	}
	e.CreationObserved("ns/rs")
	e.CreationObserved("ns/rs")
	e.DeletionObserved("ns/rs", "ns/other")
	if e.Satisfied("ns/rs") {
		t.Fatal("a deletion of another pod satisfied it")
	}
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a")
	if !e.Satisfied("ns/rs") {
		t.Fatal("not satisfied after everything was observed")
	}
	e.Expect("ns/rs", 1, nil)
	e.now = func() time.Time { return time.Now().Add(ExpectationsTimeout + time.Second) }
	if !e.Satisfied("ns/rs") {
		t.Fatal("expired expectations must be satisfied")
	}
}

func pod(name string, mutate func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1000, 0))},
		Spec:   v1.PodSpec{NodeName: "n1"},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Unix(1000, 0))}}}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestLessForDeletion(t *testing.T) {
	pods := []*v1.Pod{
		pod("old-ready", nil),
		pod("new-ready", func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(time.Unix(2000, 0)) }),
		pod("not-ready", func(p *v1.Pod) { p.Status.Conditions[0].Status = v1.ConditionFalse }),
		pod("unscheduled", func(p *v1.Pod) { p.Spec.NodeName = ""; p.Status.Phase = v1.PodPending }),
		pod("pending", func(p *v1.Pod) { p.Status.Phase = v1.PodPending }),
		pod("recently-ready", func(p *v1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Unix(1500, 0)) }),
		pod("restarting", func(p *v1.Pod) { p.Status.ContainerStatuses = []v1.ContainerStatus{{RestartCount: 3}} }),
	}
	slices.SortFunc(pods, func(a, b *v1.Pod) int {
		if LessForDeletion(a, b) {
			return -1
		}
		if LessForDeletion(b, a) {
			return 1
		}
		return 0
	})
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
	}
	want := "unscheduled pending not-ready recently-ready restarting new-ready old-ready"
	if strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
}

func TestIsPodAvailable(t *testing.T) {
	p := pod("p", nil)
	now := time.Unix(1005, 0)
	if !IsPodAvailable(p, 0, now) || !IsPodAvailable(p, 4, now) || IsPodAvailable(p, 5, now) {
		t.Fatal("minReadySeconds not honoured")
	}
}

func TestFindPort(t *testing.T) {
	p := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Ports: []v1.ContainerPort{
		{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP},
		{Name: "dns", ContainerPort: 53, Protocol: v1.ProtocolUDP},
	}}}}}
	tests := []struct {
		name    string
		sp      v1.ServicePort
		want    int32
		wantErr error
	}{
		{"named", v1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, 8080, nil},
		{"named wrong protocol", v1.ServicePort{Port: 80, Protocol: v1.ProtocolUDP, TargetPort: intstr.FromString("http")}, 0, ErrNoPort},
		{"named udp", v1.ServicePort{Port: 53, Protocol: v1.ProtocolUDP, TargetPort: intstr.FromString("dns")}, 53, nil},
		{"numeric", v1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, 9090, nil},
		{"unset", v1.ServicePort{Port: 80}, 80, nil},
		{"missing name", v1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")}, 0, ErrNoPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindPort(p, &tt.sp)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %d %v, want %d %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	owner := &v1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "owner"}}
	gvk := v1.SchemeGroupVersion.WithKind("ReplicationController")
	other := NewControllerRef(&v1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "other"}}, gvk)
	mine := NewControllerRef(owner, gvk)
	mk := func(name string, match bool, ref *metav1.OwnerReference) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)}}
		if match {
			p.Labels = map[string]string{"app": "a"}
		}
		if ref != nil {
			p.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		return p
	}
	pods := []*v1.Pod{
		mk("orphan-match", true, nil),
		mk("orphan-nomatch", false, nil),
		mk("mine-match", true, mine),
		mk("mine-nomatch", false, mine),
		mk("others", true, other),
	}
	var patched []string
	m := &RefManager{Owner: owner, GVK: gvk, Patch: func(_ context.Context, _, name string, patch []byte) error {
		patched = append(patched, name+" "+string(patch))
		return nil
	}}
	got, err := Claim(context.Background(), m, pods, func(p *v1.Pod) bool { return p.Labels["app"] == "a" })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "orphan-match,mine-match" {
		t.Fatalf("claimed %v", names)
	}
	if len(patched) != 2 ||
		!strings.Contains(patched[0], `orphan-match {"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ReplicationController","name":"rc","uid":"owner","controller":true,"blockOwnerDeletion":true}],"uid":"orphan-match"}}`) ||
		!strings.Contains(patched[1], `mine-nomatch {"metadata":{"ownerReferences":[{"$patch":"delete","uid":"owner"}],"uid":"mine-nomatch"}}`) {
		t.Fatalf("patches %q", patched)
	}
	// A deleting owner adopts nothing and releases nothing.
	now := metav1.Now()
	owner.DeletionTimestamp = &now
	patched = nil
	if _, err := Claim(context.Background(), &RefManager{Owner: owner, GVK: gvk, Patch: m.Patch}, pods, func(p *v1.Pod) bool { return p.Labels["app"] == "a" }); err != nil || len(patched) != 0 {
		t.Fatalf("deleting owner patched %v (%v)", patched, err)
	}
}
