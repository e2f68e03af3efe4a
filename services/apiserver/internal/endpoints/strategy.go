package endpoints

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"drover.dev/apiserver/internal/registry"
)

func mustAccessor(obj runtime.Object) metav1.Object {
	acc, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("endpoints: %T has no metadata: %v", obj, err))
	}
	return acc
}

func fieldsAnd(sel fields.Selector, field, value string) fields.Selector {
	return fields.AndSelectors(sel, fields.OneTermEqualSelector(field, value))
}

func fieldErrs(path, value, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, msg)}
}

// hasStatus reports whether the resource splits status into a subresource.
func hasStatus(res *registry.Resource) bool {
	_, ok := res.HasSubresource("status")
	return ok
}

// structField returns a settable field of a typed object by Go name.
func structField(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// tracksGeneration: Kubernetes bumps metadata.generation on spec changes for
// objects with a spec, and for EndpointSlices, which have none (see
// generationChanged).
func tracksGeneration(obj runtime.Object) bool {
	if _, ok := obj.(*discoveryv1.EndpointSlice); ok {
		return true
	}
	_, ok := structField(obj, "Spec")
	return ok
}

// generationChanged tells whether an update changes what metadata.generation
// counts: the spec, or for an EndpointSlice its endpoints, ports, address
// type and labels, as Kubernetes' EndpointSlice strategy does.
func generationChanged(obj, old runtime.Object) bool {
	if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
		o := old.(*discoveryv1.EndpointSlice)
		return !equality.Semantic.DeepEqual(s.Endpoints, o.Endpoints) ||
			!equality.Semantic.DeepEqual(s.Ports, o.Ports) ||
			s.AddressType != o.AddressType ||
			!equality.Semantic.DeepEqual(s.Labels, o.Labels)
	}
	spec, _ := structField(obj, "Spec")
	oldSpec, _ := structField(old, "Spec")
	return !equality.Semantic.DeepEqual(spec.Interface(), oldSpec.Interface())
}

// nameChars are the characters of generated name suffixes, as Kubernetes uses.
const nameChars = "bcdfghjklmnpqrstvwxz2456789"

func generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(nameChars))))
		b[i] = nameChars[n.Int64()]
	}
	return base + string(b)
}

// prepareForCreate sets server-owned metadata and resets fields the client
// may not set on create.
func prepareForCreate(res *registry.Resource, obj runtime.Object, namespace string) {
	acc := mustAccessor(obj)
	acc.SetUID(types.UID(uuid.NewUUID()))
	acc.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	acc.SetResourceVersion("")
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetSelfLink("")
	if res.Namespaced {
		acc.SetNamespace(namespace)
	} else {
		acc.SetNamespace("")
	}
	if tracksGeneration(obj) {
		acc.SetGeneration(1)
	} else {
		acc.SetGeneration(0)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&o.Spec)}
		o.Generation = 1
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		// The namespace controller removes this finalizer once the namespace is empty.
		if !slices.Contains(o.Spec.Finalizers, corev1.FinalizerKubernetes) {
			o.Spec.Finalizers = append(o.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		generateJobSelector(o)
	case *corev1.Node:
		// Nodes report their status on registration.
	case *corev1.PersistentVolume:
		o.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	case *corev1.PersistentVolumeClaim:
		o.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	default:
		if hasStatus(res) {
			if st, ok := structField(obj, "Status"); ok {
				st.Set(reflect.Zero(st.Type()))
			}
		}
	}
}

// normalize applies the write-only conveniences of the API before anything
// else sees the object: a Secret's stringData is merged into data.
func normalize(obj runtime.Object) {
	if s, ok := obj.(*corev1.Secret); ok && len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}

// prepareForUpdate carries over what a main-resource update may not change:
// identity, status (for resources with a status subresource) and deletion state.
func prepareForUpdate(res *registry.Resource, obj, old runtime.Object) {
	acc, oldAcc := mustAccessor(obj), mustAccessor(old)
	acc.SetUID(oldAcc.GetUID())
	acc.SetCreationTimestamp(oldAcc.GetCreationTimestamp())
	acc.SetDeletionTimestamp(oldAcc.GetDeletionTimestamp())
	acc.SetDeletionGracePeriodSeconds(oldAcc.GetDeletionGracePeriodSeconds())
	acc.SetGeneration(oldAcc.GetGeneration())
	acc.SetSelfLink("")
	if hasStatus(res) {
		if st, ok := structField(obj, "Status"); ok {
			oldSt, _ := structField(old, "Status")
			st.Set(oldSt)
		}
	}
	if tracksGeneration(obj) && generationChanged(obj, old) {
		acc.SetGeneration(oldAcc.GetGeneration() + 1)
	}
}

// prepareForStatusUpdate keeps everything of old except the status (and
// the managedFields, which the field manager computes for the status write).
func prepareForStatusUpdate(obj, old runtime.Object) runtime.Object {
	out := old.DeepCopyObject()
	st, ok := structField(out, "Status")
	if ok {
		newSt, _ := structField(obj, "Status")
		st.Set(newSt)
	}
	acc, newAcc := mustAccessor(out), mustAccessor(obj)
	acc.SetResourceVersion(newAcc.GetResourceVersion())
	acc.SetManagedFields(newAcc.GetManagedFields())
	return out
}

// generateJobSelector gives a Job without manualSelector a selector on its
// own uid and labels its pod template to match, as Kubernetes does on create.
func generateJobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	uid := string(job.UID)
	labels := map[string]string{
		"batch.kubernetes.io/controller-uid": uid,
		"batch.kubernetes.io/job-name":       job.Name,
		"controller-uid":                     uid,
		"job-name":                           job.Name,
	}
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range labels {
		job.Spec.Template.Labels[k] = v
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": uid}}
	}
}

// qosClass computes a pod's QoS class from its containers' resources.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	any := false
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				if !q.IsZero() {
					any = true
				}
				requests[name] = q
			}
		}
		hasCPU, hasMem := false, false
		for name, q := range c.Resources.Limits {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				if !q.IsZero() {
					any = true
				}
				limits[name] = q
				hasCPU = hasCPU || name == corev1.ResourceCPU
				hasMem = hasMem || name == corev1.ResourceMemory
			}
		}
		if !hasCPU || !hasMem {
			guaranteed = false
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim := c.Resources.Limits[name]
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// invalid builds a 422 for obj with Kubernetes' message shape.
func invalid(res *registry.Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(res.GVK().GroupKind(), name, errs)
}

// sameJSON reports whether two objects encode identically (a no-op update).
func sameJSON(a, b runtime.Object) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
