package replication

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConversionRoundTrip(t *testing.T) {
	two := int32(2)
	rc := &v1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns", UID: "u", Generation: 3},
		Spec: v1.ReplicationControllerSpec{Replicas: &two, MinReadySeconds: 5, Selector: map[string]string{"app": "a"},
			Template: &v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}}},
		Status: v1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1, ObservedGeneration: 3,
			Conditions: []v1.ReplicationControllerCondition{{Type: v1.ReplicationControllerReplicaFailure, Status: v1.ConditionTrue}}},
	}
	rs := ToReplicaSet(rc)
	if rs.Spec.Selector.MatchLabels["app"] != "a" || *rs.Spec.Replicas != 2 || rs.Spec.MinReadySeconds != 5 || rs.UID != "u" {
		t.Fatalf("converted %+v", rs)
	}
	if back := FromReplicaSet(rs); !apiequality.Semantic.DeepEqual(back, rc) {
		t.Fatalf("round trip:\n%+v\n%+v", back, rc)
	}
}
