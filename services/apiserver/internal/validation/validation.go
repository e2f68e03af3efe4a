// Package validation checks Kubernetes objects with Kubernetes' own rules, the
// way kube-apiserver's registry strategies do, so that drover rejects what
// kube-apiserver rejects with the same field paths and messages.
//
// Objects are the versioned k8s.io/api types after defaulting. Where
// kube-apiserver validates its internal types, the rules here are restated for
// the versioned fields (for example a Service's clusterIP and clusterIPs, or a
// Secret's stringData, which Kubernetes folds into data before validating).
package validation

import (
	"errors"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks a new object (versioned k8s.io/api types, e.g. *corev1.Pod,
// *appsv1.Deployment) before create.
func Validate(obj runtime.Object) field.ErrorList {
	if isNil(obj) {
		return nilObject()
	}
	if r, ok := kinds[reflect.TypeOf(obj)]; ok {
		return r.create(obj)
	}
	return validateUnknown(obj)
}

// ValidateUpdate checks an update of old to obj, including immutable fields.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if isNil(obj) || isNil(old) {
		return nilObject()
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return typeMismatch(obj, old)
	}
	if r, ok := kinds[reflect.TypeOf(obj)]; ok {
		return r.update(obj, old)
	}
	return validateUnknownUpdate(obj, old)
}

// ValidateStatusUpdate checks an update of the status subresource (metadata
// rules + status fields).
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if isNil(obj) || isNil(old) {
		return nilObject()
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return typeMismatch(obj, old)
	}
	if r, ok := kinds[reflect.TypeOf(obj)]; ok && r.status != nil {
		return r.status(obj, old)
	}
	return validateUnknownUpdate(obj, old)
}

// rules holds the three checks of one kind, erased to runtime.Object so one
// table can drive all of them.
type rules struct {
	create func(obj runtime.Object) field.ErrorList
	update func(obj, old runtime.Object) field.ErrorList
	status func(obj, old runtime.Object) field.ErrorList
}

// kind adapts typed checks to rules. A nil status means the status
// subresource only gets the metadata update rules.
func kind[T runtime.Object](create func(T) field.ErrorList, update, status func(obj, old T) field.ErrorList) rules {
	r := rules{
		create: func(obj runtime.Object) field.ErrorList { return create(obj.(T)) },
		update: func(obj, old runtime.Object) field.ErrorList { return update(obj.(T), old.(T)) },
	}
	if status != nil {
		r.status = func(obj, old runtime.Object) field.ErrorList { return status(obj.(T), old.(T)) }
	}
	return r
}

// kinds maps each covered Go type to its rules; anything else only gets
// metadata validation.
var kinds = map[reflect.Type]rules{
	// core/v1
	reflect.TypeFor[*corev1.Namespace]():             kind(validateNamespace, validateNamespaceUpdate, validateNamespaceStatusUpdate),
	reflect.TypeFor[*corev1.Pod]():                   kind(validatePod, validatePodUpdate, validatePodStatusUpdate),
	reflect.TypeFor[*corev1.Service]():               kind(validateService, validateServiceUpdate, validateServiceStatusUpdate),
	reflect.TypeFor[*corev1.Endpoints]():             kind(validateEndpoints, validateEndpointsUpdate, nil),
	reflect.TypeFor[*corev1.Node]():                  kind(validateNode, validateNodeUpdate, validateNodeStatusUpdate),
	reflect.TypeFor[*corev1.Secret]():                kind(validateSecret, validateSecretUpdate, nil),
	reflect.TypeFor[*corev1.ConfigMap]():             kind(validateConfigMap, validateConfigMapUpdate, nil),
	reflect.TypeFor[*corev1.ServiceAccount]():        kind(validateServiceAccount, validateServiceAccountUpdate, nil),
	reflect.TypeFor[*corev1.Event]():                 kind(validateEvent, validateEventUpdate, nil),
	reflect.TypeFor[*corev1.PersistentVolume]():      kind(validatePersistentVolume, validatePersistentVolumeUpdate, validatePersistentVolumeStatusUpdate),
	reflect.TypeFor[*corev1.PersistentVolumeClaim](): kind(validatePersistentVolumeClaim, validatePersistentVolumeClaimUpdate, validatePersistentVolumeClaimStatusUpdate),
	reflect.TypeFor[*corev1.ReplicationController](): kind(validateReplicationController, validateReplicationControllerUpdate, validateReplicationControllerStatusUpdate),
	reflect.TypeFor[*corev1.ResourceQuota]():         kind(validateResourceQuota, validateResourceQuotaUpdate, validateResourceQuotaStatusUpdate),
	reflect.TypeFor[*corev1.LimitRange]():            kind(validateLimitRange, validateLimitRangeUpdate, nil),
	reflect.TypeFor[*corev1.Binding]():               kind(validateBinding, validateBindingUpdate, nil),
	// apps/v1
	reflect.TypeFor[*appsv1.Deployment]():         kind(validateDeployment, validateDeploymentUpdate, validateDeploymentStatusUpdate),
	reflect.TypeFor[*appsv1.ReplicaSet]():         kind(validateReplicaSet, validateReplicaSetUpdate, validateReplicaSetStatusUpdate),
	reflect.TypeFor[*appsv1.StatefulSet]():        kind(validateStatefulSet, validateStatefulSetUpdate, validateStatefulSetStatusUpdate),
	reflect.TypeFor[*appsv1.DaemonSet]():          kind(validateDaemonSet, validateDaemonSetUpdate, validateDaemonSetStatusUpdate),
	reflect.TypeFor[*appsv1.ControllerRevision](): kind(validateControllerRevision, validateControllerRevisionUpdate, nil),
	// batch/v1
	reflect.TypeFor[*batchv1.Job]():     kind(validateJob, validateJobUpdate, validateJobStatusUpdate),
	reflect.TypeFor[*batchv1.CronJob](): kind(validateCronJob, validateCronJobUpdate, nil),
	// autoscaling/v2
	reflect.TypeFor[*autoscalingv2.HorizontalPodAutoscaler](): kind(validateHPA, validateHPAUpdate, validateHPAStatusUpdate),
	// policy/v1
	reflect.TypeFor[*policyv1.PodDisruptionBudget](): kind(validatePDB, validatePDBUpdate, validatePDBStatusUpdate),
	reflect.TypeFor[*policyv1.Eviction]():            kind(validateEviction, validateEvictionUpdate, nil),
	// discovery/v1
	reflect.TypeFor[*discoveryv1.EndpointSlice](): kind(validateEndpointSlice, validateEndpointSliceUpdate, nil),
	// networking/v1
	reflect.TypeFor[*networkingv1.Ingress]():       kind(validateIngress, validateIngressUpdate, validateIngressStatusUpdate),
	reflect.TypeFor[*networkingv1.IngressClass]():  kind(validateIngressClass, validateIngressClassUpdate, nil),
	reflect.TypeFor[*networkingv1.NetworkPolicy](): kind(validateNetworkPolicy, validateNetworkPolicyUpdate, nil),
	// coordination/v1
	reflect.TypeFor[*coordinationv1.Lease](): kind(validateLease, validateLeaseUpdate, nil),
	// storage/v1
	reflect.TypeFor[*storagev1.StorageClass](): kind(validateStorageClass, validateStorageClassUpdate, nil),
	// scheduling/v1
	reflect.TypeFor[*schedulingv1.PriorityClass](): kind(validatePriorityClass, validatePriorityClassUpdate, nil),
	// rbac/v1
	reflect.TypeFor[*rbacv1.Role]():               kind(validateRole, validateRoleUpdate, nil),
	reflect.TypeFor[*rbacv1.ClusterRole]():        kind(validateClusterRole, validateClusterRoleUpdate, nil),
	reflect.TypeFor[*rbacv1.RoleBinding]():        kind(validateRoleBinding, validateRoleBindingUpdate, nil),
	reflect.TypeFor[*rbacv1.ClusterRoleBinding](): kind(validateClusterRoleBinding, validateClusterRoleBindingUpdate, nil),
}

var (
	metaPath   = field.NewPath("metadata")
	specPath   = field.NewPath("spec")
	statusPath = field.NewPath("status")
)

// isNil reports a nil interface or a typed nil pointer, which a type switch
// would otherwise happily dereference.
func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func nilObject() field.ErrorList {
	return field.ErrorList{field.InternalError(nil, errors.New("object must not be nil"))}
}

func typeMismatch(obj, old runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot update %T with %T", old, obj))}
}

// validateUnknown checks only metadata. Whether the kind is namespaced is not
// known here, so the namespace is validated when set but never required.
func validateUnknown(obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil // not an object with metadata (a list, a status): nothing to check
	}
	return apivalidation.ValidateObjectMetaAccessor(m, m.GetNamespace() != "", apivalidation.NameIsDNSSubdomain, metaPath)
}

func validateUnknownUpdate(obj, old runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	o, err := meta.Accessor(old)
	if err != nil {
		return nil
	}
	return apivalidation.ValidateObjectMetaAccessorUpdate(m, o, metaPath)
}

// validateMeta checks metadata on create: the name with nameFn, the namespace
// present or absent by scope, labels, annotations, owners and finalizers.
func validateMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMeta(m, namespaced, nameFn, metaPath)
}

// validateMetaUpdate checks metadata on update: name, namespace, uid and
// creationTimestamp are immutable and resourceVersion must be set.
func validateMetaUpdate(m, old *metav1.ObjectMeta) field.ErrorList {
	return apivalidation.ValidateObjectMetaUpdate(m, old, metaPath)
}
