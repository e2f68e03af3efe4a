package endpoints

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"drover.dev/apiserver/internal/registry"
)

func (a *API) serveSubresource(q *request) {
	sub, ok := q.res.HasSubresource(q.info.Subresource)
	if !ok || q.info.Name == "" {
		writeStatus(q.w, q.r, notFoundPath(q.r))
		return
	}
	verb := q.info.Verb
	if !allowed(sub.Verbs, verb) {
		writeStatus(q.w, q.r, methodNotAllowed(q))
		return
	}
	switch sub.Name {
	case "status":
		switch verb {
		case "get":
			a.get(q)
		case "update":
			a.replace(q, updateStatus)
		case "patch":
			a.patchWith(q, updateStatus)
		}
	case "scale":
		a.serveScale(q, sub)
	case "binding":
		a.createBinding(q, q.info.Name)
	case "eviction":
		a.createEviction(q)
	case "log":
		a.podLog(q)
	case "finalize":
		a.finalizeNamespace(q)
	default:
		writeStatus(q.w, q.r, notFoundPath(q.r))
	}
}

// scaleOf reads the Scale view of a workload.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	s := &autoscalingv1.Scale{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}}
	var sel *metav1.LabelSelector
	acc := mustAccessor(obj)
	s.ObjectMeta = metav1.ObjectMeta{Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(),
		ResourceVersion: acc.GetResourceVersion(), CreationTimestamp: acc.GetCreationTimestamp()}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		s.Spec.Replicas = deref(o.Spec.Replicas, 1)
		s.Status.Replicas = o.Status.Replicas
		sel = o.Spec.Selector
	case *appsv1.ReplicaSet:
		s.Spec.Replicas = deref(o.Spec.Replicas, 1)
		s.Status.Replicas = o.Status.Replicas
		sel = o.Spec.Selector
	case *appsv1.StatefulSet:
		s.Spec.Replicas = deref(o.Spec.Replicas, 1)
		s.Status.Replicas = o.Status.Replicas
		sel = o.Spec.Selector
	case *corev1.ReplicationController:
		s.Spec.Replicas = deref(o.Spec.Replicas, 1)
		s.Status.Replicas = o.Status.Replicas
		s.Status.Selector = labelsString(o.Spec.Selector)
		return s, nil
	default:
		return nil, fmt.Errorf("%T has no scale", obj)
	}
	if sel != nil {
		ls, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, err
		}
		s.Status.Selector = ls.String()
	}
	return s, nil
}

func labelsString(m map[string]string) string {
	sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: m})
	if err != nil {
		return ""
	}
	return sel.String()
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
}

var scaleGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}

func (a *API) serveScale(q *request, sub *registry.Subresource) {
	if _, err := negotiate(q.r); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if q.info.Verb == "get" {
		if err := a.waitCache(q, q.r.URL.Query().Get("resourceVersion")); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		it, _ := a.cfg.Cache.Get(q.storageRes.Resource, q.key(q.info.Name))
		if it == nil {
			writeStatus(q.w, q.r, apierrors.NewNotFound(q.groupResource(), q.info.Name))
			return
		}
		obj, err := a.decodeItem(q.res, it)
		if err != nil {
			writeStatus(q.w, q.r, apierrors.NewInternalError(err))
			return
		}
		s, err := scaleOf(obj)
		if err != nil {
			writeStatus(q.w, q.r, apierrors.NewInternalError(err))
			return
		}
		writeJSON(q.w, q.r, http.StatusOK, s)
		return
	}
	var pt types.PatchType
	var body []byte
	var err error
	if q.info.Verb == "patch" {
		if pt, err = patchType(q); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
	}
	if body, err = readBody(q); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	var newScale *autoscalingv1.Scale
	if q.info.Verb == "update" {
		newScale = &autoscalingv1.Scale{}
		if err := decodeBody(q, body, scaleGVK, newScale); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		if newScale.Name != q.info.Name {
			writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", newScale.Name, q.info.Name)))
			return
		}
	}
	var result *autoscalingv1.Scale
	_, err = a.guaranteedUpdate(q, q.info.Name, updateMain, func(cur runtime.Object) (runtime.Object, error) {
		curScale, err := scaleOf(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if pt == types.ApplyYAMLPatchType {
			return a.applyTo(q, "scale", cur, body)
		}
		want := newScale
		if want == nil {
			patched, err := applyPatch(q, pt, body, curScale, "Scale")
			if err != nil {
				return nil, err
			}
			want = patched.(*autoscalingv1.Scale)
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), q.info.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		next := cur.DeepCopyObject()
		setReplicas(next, want.Spec.Replicas)
		acc := mustAccessor(next)
		if want.ResourceVersion != "" && want.ResourceVersion != curScale.ResourceVersion {
			acc.SetResourceVersion(want.ResourceVersion)
		} else {
			acc.SetResourceVersion("")
		}
		return next, nil
	})
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if result == nil {
		kv, gerr := a.cfg.Store.Get(q.ctx, q.key(q.info.Name))
		if gerr != nil {
			writeStatus(q.w, q.r, apierrors.NewInternalError(gerr))
			return
		}
		obj, derr := a.decodeStored(q.res, kv.Value, kv.ModRevision)
		if derr != nil {
			writeStatus(q.w, q.r, apierrors.NewInternalError(derr))
			return
		}
		result, _ = scaleOf(obj)
	}
	writeJSON(q.w, q.r, http.StatusOK, result)
}

var bindingGVK = schema.GroupVersionKind{Version: "v1", Kind: "Binding"}

// createBinding assigns a pod to a node (pods/<name>/binding or bindings).
func (a *API) createBinding(q *request, podName string) {
	body, err := readBody(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	b := &corev1.Binding{}
	if err := decodeBody(q, body, bindingGVK, b); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if podName == "" {
		podName = b.Name
	}
	if b.Name != podName {
		writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Binding object")))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" || b.Target.Name == "" {
		writeStatus(q.w, q.r, apierrors.NewInvalid(bindingGVK.GroupKind(), b.Name, field.ErrorList{field.Invalid(field.NewPath("target"), b.Target, "must be a Node with a name")}))
		return
	}
	podRes, _ := a.cfg.Registry.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "pods"})
	pq := *q
	pq.res, pq.storageRes = podRes, podRes
	pq.info.Name = podName
	_, err = a.guaranteedUpdate(&pq, podName, updateRaw, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(pq.groupResource(), podName, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", podName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(pq.groupResource(), podName, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(pq.groupResource(), podName, fmt.Errorf("pod %s is already assigned to node %q", podName, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		pod.ResourceVersion = ""
		return pod, nil
	})
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	writeJSON(q.w, q.r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

var evictionGVK = schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}

// createEviction deletes a pod unless a PodDisruptionBudget forbids it (429).
func (a *API) createEviction(q *request) {
	body, err := readBody(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	ev := &policyv1.Eviction{}
	if err := decodeBody(q, body, evictionGVK, ev); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if ev.Name != q.info.Name {
		writeStatus(q.w, q.r, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	kv, err := a.cfg.Store.Get(q.ctx, q.key(q.info.Name))
	if err != nil {
		writeStatus(q.w, q.r, storageError(q, q.info.Name, err))
		return
	}
	obj, err := a.decodeStored(q.res, kv.Value, kv.ModRevision)
	if err != nil {
		writeStatus(q.w, q.r, apierrors.NewInternalError(err))
		return
	}
	pod := obj.(*corev1.Pod)
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	// Terminal or already deleting pods are not protected by budgets.
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil {
		if err := a.consumeDisruption(q, pod); err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
	}
	if _, _, err := a.deleteObject(q, q.info.Name, opts); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	writeJSON(q.w, q.r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
}

// consumeDisruption finds the budget covering pod and takes one disruption
// from it, or refuses with 429 like kube-apiserver.
func (a *API) consumeDisruption(q *request, pod *corev1.Pod) error {
	pdbRes, _ := a.cfg.Registry.Lookup(schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"})
	if _, err := a.cfg.Cache.WaitFresh(q.ctx); err != nil {
		return cacheError(err)
	}
	items, _, _ := a.cfg.Cache.List("poddisruptionbudgets", a.cfg.Store.ListPrefix("poddisruptionbudgets", pod.Namespace), "", nil, 0)
	var matched []*policyv1.PodDisruptionBudget
	for _, it := range items {
		obj, err := a.decodeItem(pdbRes, it)
		if err != nil {
			continue
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matched = append(matched, pdb)
	}
	if len(matched) == 0 {
		return nil
	}
	if len(matched) > 1 {
		return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := matched[0]
	if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.DisruptionsAllowed <= 0 {
		return tooManyRequests(pdb.Name, pdb.Status.DisruptionsAllowed)
	}
	pq := *q
	pq.res, pq.storageRes = pdbRes, pdbRes
	pq.info.Name = pdb.Name
	_, err := a.guaranteedUpdate(&pq, pdb.Name, updateRaw, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*policyv1.PodDisruptionBudget)
		if p.Status.DisruptionsAllowed <= 0 {
			return nil, tooManyRequests(p.Name, p.Status.DisruptionsAllowed)
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		p.Status.DisruptedPods[pod.Name] = metav1.Now()
		p.ResourceVersion = ""
		return p, nil
	})
	return err
}

func tooManyRequests(pdbName string, allowed int32) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s needs %s healthy pods and has %s currently", pdbName, strconv.Itoa(int(allowed+1)), strconv.Itoa(int(allowed))),
	})
	return err
}

// finalizeNamespace updates a namespace's spec.finalizers; a terminating
// namespace without finalizers is then removed.
func (a *API) finalizeNamespace(q *request) {
	body, err := readBody(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	ns := &corev1.Namespace{}
	if err := decodeBody(q, body, q.res.GVK(), ns); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if ns.Name != q.info.Name {
		writeStatus(q.w, q.r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", ns.Name, q.info.Name)))
		return
	}
	result, err := a.guaranteedUpdate(q, q.info.Name, updateRaw, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.Namespace)
		c.Spec.Finalizers = ns.Spec.Finalizers
		c.ResourceVersion = ns.ResourceVersion
		if len(c.Spec.Finalizers) == 0 && c.DeletionTimestamp != nil && len(c.Finalizers) == 0 {
			// guaranteedUpdate deletes objects being deleted once nothing holds them.
			c.ResourceVersion = ""
		}
		return c, nil
	})
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	writeJSON(q.w, q.r, http.StatusOK, result)
}
