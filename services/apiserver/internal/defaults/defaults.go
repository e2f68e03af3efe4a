// Package defaults fills the unset fields of versioned built-in objects the way
// kube-apiserver 1.37 does between decoding a request body and validating it, so
// that clients read back from drover the same objects Kubernetes would store.
//
// It follows the SetDefaults_* functions of k8s.io/kubernetes/pkg/apis/<group>/<version>,
// the generated walks that reach nested structs (pod templates, volumes, containers,
// probes) and the +default tags of k8s.io/api, with feature gates at their 1.37
// defaults. What kube-apiserver does elsewhere on create is not here: the registry
// strategies' PrepareForCreate (namespace finalizers, pod status, job selectors),
// admission (service accounts) and cluster IP / node port allocation. The one
// exception is a Service's IP family fields, see defaultServiceIPFamilies.
package defaults

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default fills unset fields of a versioned k8s.io/api object (e.g. *corev1.Pod,
// *appsv1.Deployment) with Kubernetes' defaults. Unknown types are left alone.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		defaultPod(o)
	case *corev1.PodTemplate:
		defaultPodSpec(&o.Template.Spec)
	case *corev1.ReplicationController:
		defaultReplicationController(o)
	case *corev1.Service:
		defaultService(o)
	case *corev1.Endpoints:
		defaultEndpoints(o)
	case *corev1.Namespace:
		defaultNamespace(o)
	case *corev1.Node:
		defaultNode(o)
	case *corev1.PersistentVolume:
		defaultPersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		defaultPersistentVolumeClaim(o)
	case *corev1.Secret:
		setIfEmpty(&o.Type, corev1.SecretTypeOpaque)
	case *corev1.ConfigMap:
		defaultConfigMap(o)
	case *corev1.LimitRange:
		defaultLimitRange(o)
	case *corev1.ResourceQuota:
		defaultResourceQuota(o)

	// apps/v1
	case *appsv1.Deployment:
		defaultDeployment(o)
	case *appsv1.ReplicaSet:
		defaultReplicaSet(o)
	case *appsv1.StatefulSet:
		defaultStatefulSet(o)
	case *appsv1.DaemonSet:
		defaultDaemonSet(o)

	// batch/v1
	case *batchv1.Job:
		defaultJob(o)
	case *batchv1.CronJob:
		defaultCronJob(o)

	// autoscaling
	case *autoscalingv2.HorizontalPodAutoscaler:
		defaultHPA(o)
	case *autoscalingv1.HorizontalPodAutoscaler:
		defaultHPAv1(o)

	// networking.k8s.io/v1 and discovery.k8s.io/v1
	case *networkingv1.NetworkPolicy:
		defaultNetworkPolicy(o)
	case *networkingv1.IngressClass:
		defaultIngressClass(o)
	case *discoveryv1.EndpointSlice:
		defaultEndpointSlice(o)

	// rbac.authorization.k8s.io/v1
	case *rbacv1.RoleBinding:
		defaultRoleRef(&o.RoleRef)
		defaultSubjects(o.Subjects)
	case *rbacv1.ClusterRoleBinding:
		defaultRoleRef(&o.RoleRef)
		defaultSubjects(o.Subjects)

	// storage.k8s.io/v1 and scheduling.k8s.io/v1
	case *storagev1.StorageClass:
		defaultStorageClass(o)
	case *schedulingv1.PriorityClass:
		defaultPriorityClass(o)

	default:
		// Kubernetes defaults every item of a typed list (PodList, ...) like a
		// single object; anything else has no defaults.
		if meta.IsListType(obj) {
			defaultListItems(obj)
		}
	}
}

func defaultListItems(list runtime.Object) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return
	}
	// ExtractList hands out pointers into the list's slice, so defaults stick.
	for _, item := range items {
		Default(item)
	}
}

// setIfEmpty stores value in *field when the field holds its zero value.
func setIfEmpty[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// setIfNil points *field at a fresh copy of value when the field is unset, so no
// two objects ever share a default.
func setIfNil[T any](field **T, value T) {
	if *field == nil {
		*field = &value
	}
}
