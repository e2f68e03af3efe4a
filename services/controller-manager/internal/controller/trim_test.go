package controller

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestTrimForCacheKeepsWhatControllersRead(t *testing.T) {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"},
			Annotations:   map[string]string{lastAppliedAnnotation: "{...}", "keep": "me"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: v1.PodSpec{NodeName: "n", Hostname: "h", Subdomain: "s",
			Tolerations: []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists}},
			Volumes:     []v1.Volume{{Name: "v"}},
			Containers: []v1.Container{{Name: "sidecar", Image: "log"}, {Name: "c", Image: "img", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 80}},
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.0.0.1", Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}},
			ContainerStatuses: []v1.ContainerStatus{{Name: "c", RestartCount: 2, Image: "img", ImageID: "x"}}},
	}
	out, _ := TrimForCache(p)
	q := out.(*v1.Pod)
	if q.ManagedFields != nil || q.Annotations[lastAppliedAnnotation] != "" || q.Annotations["keep"] != "me" {
		t.Fatalf("metadata %+v", q.ObjectMeta)
	}
	if q.Spec.NodeName != "n" || q.Spec.Hostname != "h" || q.Spec.Subdomain != "s" || len(q.Spec.Tolerations) != 1 ||
		len(q.Spec.Containers) != 1 || q.Spec.Containers[0].Ports[0].Name != "http" || q.Spec.Volumes != nil || q.Spec.Containers[0].Image != "" {
		t.Fatalf("spec %+v", q.Spec)
	}
	if !IsPodReady(q) || q.Status.PodIP != "10.0.0.1" || q.Status.ContainerStatuses[0].RestartCount != 2 || q.Status.ContainerStatuses[0].ImageID != "" {
		t.Fatalf("status %+v", q.Status)
	}
	// A named target port still resolves on the trimmed pod.
	if n, err := FindPort(q, &v1.ServicePort{Port: 8080, TargetPort: intstr.FromString("http")}); err != nil || n != 80 {
		t.Fatalf("FindPort on trimmed pod: %d, %v", n, err)
	}
}
