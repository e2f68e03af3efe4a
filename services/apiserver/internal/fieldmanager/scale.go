package fieldmanager

import (
	"fmt"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// Writes through /scale are tracked the way Kubernetes' scale storages do:
// the parent's managedFields are turned into a Scale's (only ownership of
// spec.replicas survives, as Scale's spec.replicas), the Scale's field
// manager records the write, and the result is merged back into the parent
// as ownership of the parent's spec.replicas with subresource "scale".

// scaleHandler maps the parent's spec.replicas to Scale's.
func scaleHandler(gvk schema.GroupVersionKind, parent metav1.Object) *managedfields.ScaleHandler {
	gv := gvk.GroupVersion()
	return managedfields.NewScaleHandler(parent.GetManagedFields(), gv,
		managedfields.ResourcePathMappings{gv.String(): fieldpath.MakePathOrDie("spec", "replicas")})
}

func (m *Manager) updateScale(km *kindManager, live, obj runtime.Object, manager string) (runtime.Object, error) {
	liveAcc, err := accessor(live)
	if err != nil {
		return nil, err
	}
	objAcc, err := accessor(obj)
	if err != nil {
		return nil, err
	}
	h := scaleHandler(km.gvk, liveAcc)
	oldScale, err := scaleOf(live, h)
	if err != nil {
		return nil, err
	}
	newScale, err := scaleOf(obj, nil)
	if err != nil {
		return nil, err
	}
	out, err := km.fm.Update(oldScale, newScale, manager)
	if err != nil {
		return nil, err
	}
	outAcc, err := accessor(out)
	if err != nil {
		return nil, err
	}
	entries, err := toParent(h, outAcc.GetManagedFields())
	if err != nil {
		return nil, err
	}
	objAcc.SetManagedFields(entries)
	return obj, nil
}

// applyScale applies a Scale apply configuration to the parent live and
// returns a copy of the parent with the new replicas and managedFields.
func (m *Manager) applyScale(km *kindManager, live runtime.Object, patch runtime.Object, manager string, force bool) (runtime.Object, error) {
	liveAcc, err := accessor(live)
	if err != nil {
		return nil, err
	}
	h := scaleHandler(km.gvk, liveAcc)
	oldScale, err := scaleOf(live, h)
	if err != nil {
		return nil, err
	}
	out, err := km.fm.Apply(oldScale, patch, manager, force)
	if err != nil {
		return nil, err
	}
	scale, ok := out.(*autoscalingv1.Scale)
	if !ok {
		return nil, fmt.Errorf("fieldmanager: apply to scale returned %T", out)
	}
	next := live.DeepCopyObject()
	replicas, err := replicasField(next)
	if err != nil {
		return nil, err
	}
	n := scale.Spec.Replicas
	replicas.Set(reflect.ValueOf(&n))
	entries, err := toParent(h, scale.ManagedFields)
	if err != nil {
		return nil, err
	}
	nextAcc, err := accessor(next)
	if err != nil {
		return nil, err
	}
	nextAcc.SetManagedFields(entries)
	// A resourceVersion in the apply configuration is a precondition on the parent.
	nextAcc.SetResourceVersion(scale.ResourceVersion)
	return next, nil
}

// toParent merges the Scale's entries into the parent's. ScaleHandler takes
// every entry's time from the parent, where a manager that only wrote
// through /scale has none; such entries get the Scale entry's time.
func toParent(h *managedfields.ScaleHandler, scaleEntries []metav1.ManagedFieldsEntry) ([]metav1.ManagedFieldsEntry, error) {
	entries, err := h.ToParent(scaleEntries)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		e := &entries[i]
		if e.Time != nil || e.Subresource != "scale" {
			continue
		}
		for _, s := range scaleEntries {
			if s.Manager == e.Manager && s.Operation == e.Operation && s.Subresource == e.Subresource {
				e.Time = s.Time
			}
		}
	}
	return entries, nil
}

// scaleOf is the Scale view of a workload as far as field ownership goes:
// its identity and spec.replicas (unset replicas default to 1). With a
// handler, it carries the parent's replicas ownership.
func scaleOf(obj runtime.Object, h *managedfields.ScaleHandler) (*autoscalingv1.Scale, error) {
	acc, err := accessor(obj)
	if err != nil {
		return nil, err
	}
	replicas, err := replicasField(obj)
	if err != nil {
		return nil, err
	}
	s := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: scaleGVK.GroupVersion().String(), Kind: scaleGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              acc.GetName(),
			Namespace:         acc.GetNamespace(),
			UID:               acc.GetUID(),
			ResourceVersion:   acc.GetResourceVersion(),
			CreationTimestamp: acc.GetCreationTimestamp(),
		},
		Spec: autoscalingv1.ScaleSpec{Replicas: 1},
	}
	if !replicas.IsNil() {
		s.Spec.Replicas = int32(replicas.Elem().Int())
	}
	if h != nil {
		if s.ManagedFields, err = h.ToSubresource(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// replicasField is the settable spec.replicas (*int32) of a workload:
// Deployment, ReplicaSet, StatefulSet or ReplicationController.
func replicasField(obj runtime.Object) (reflect.Value, error) {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if spec := v.Elem().FieldByName("Spec"); spec.IsValid() && spec.Kind() == reflect.Struct {
			if r := spec.FieldByName("Replicas"); r.IsValid() && r.Type() == reflect.TypeFor[*int32]() {
				return r, nil
			}
		}
	}
	return reflect.Value{}, fmt.Errorf("fieldmanager: %T has no spec.replicas", obj)
}
