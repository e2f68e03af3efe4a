// Package replication runs the ReplicaSet controller for ReplicationControllers,
// whose equality selectors are a special case of a ReplicaSet's.
package replication

import (
	"context"

	"go.uber.org/zap"
	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"drover.dev/controller-manager/internal/controller/replicaset"
)

// New returns the ReplicationController controller.
func New(client kubernetes.Interface, rcInformer coreinformers.ReplicationControllerInformer, podInformer coreinformers.PodInformer, recorder record.EventRecorder, lg *zap.Logger) *replicaset.Controller {
	rcs := client.CoreV1().ReplicationControllers
	return replicaset.NewForKind(replicaset.Kind{
		Name:     "replicationcontroller",
		GVK:      v1.SchemeGroupVersion.WithKind("ReplicationController"),
		Informer: rcInformer.Informer(),
		Convert: func(obj any) *apps.ReplicaSet {
			rc, ok := obj.(*v1.ReplicationController)
			if !ok {
				return nil
			}
			return ToReplicaSet(rc)
		},
		Get: func(ctx context.Context, ns, name string) (*apps.ReplicaSet, error) {
			rc, err := rcs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return ToReplicaSet(rc), nil
		},
		UpdateStatus: func(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error) {
			rc, err := rcs(rs.Namespace).UpdateStatus(ctx, FromReplicaSet(rs), metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			return ToReplicaSet(rc), nil
		},
	}, client, podInformer, recorder, lg)
}

// ToReplicaSet converts rc for the ReplicaSet controller.
func ToReplicaSet(rc *v1.ReplicationController) *apps.ReplicaSet {
	rs := &apps.ReplicaSet{ObjectMeta: rc.ObjectMeta}
	rs.Spec.Replicas = rc.Spec.Replicas
	if rs.Spec.Replicas == nil {
		one := int32(1)
		rs.Spec.Replicas = &one
	}
	rs.Spec.MinReadySeconds = rc.Spec.MinReadySeconds
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	rs.Status = apps.ReplicaSetStatus{
		Replicas:             rc.Status.Replicas,
		FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
		ReadyReplicas:        rc.Status.ReadyReplicas,
		AvailableReplicas:    rc.Status.AvailableReplicas,
		ObservedGeneration:   rc.Status.ObservedGeneration,
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, apps.ReplicaSetCondition{
			Type: apps.ReplicaSetConditionType(c.Type), Status: c.Status, Reason: c.Reason,
			Message: c.Message, LastTransitionTime: c.LastTransitionTime})
	}
	// ReplicationControllers have no terminatingReplicas; keep the compare stable.
	return rs
}

// FromReplicaSet converts back what the controller writes.
func FromReplicaSet(rs *apps.ReplicaSet) *v1.ReplicationController {
	rc := &v1.ReplicationController{ObjectMeta: rs.ObjectMeta}
	rc.Spec.Replicas = rs.Spec.Replicas
	rc.Spec.MinReadySeconds = rs.Spec.MinReadySeconds
	rc.Spec.Selector = rs.Spec.Selector.MatchLabels
	tpl := rs.Spec.Template
	rc.Spec.Template = &tpl
	rc.Status = v1.ReplicationControllerStatus{
		Replicas:             rs.Status.Replicas,
		FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
		ReadyReplicas:        rs.Status.ReadyReplicas,
		AvailableReplicas:    rs.Status.AvailableReplicas,
		ObservedGeneration:   rs.Status.ObservedGeneration,
	}
	for _, c := range rs.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, v1.ReplicationControllerCondition{
			Type: v1.ReplicationControllerConditionType(c.Type), Status: c.Status, Reason: c.Reason,
			Message: c.Message, LastTransitionTime: c.LastTransitionTime})
	}
	return rc
}
