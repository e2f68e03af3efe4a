package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"drover.dev/apiserver/internal/fieldmanager"
	"drover.dev/apiserver/internal/storage"
)

// maxUpdateRetries bounds compare-and-swap retries of updates without a resourceVersion.
const maxUpdateRetries = 16

func isDryRun(q *request) (bool, error) {
	v := q.r.URL.Query()["dryRun"]
	for _, d := range v {
		if d != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("invalid dry run option: %q: supported values: \"All\"", d))
		}
	}
	return len(v) > 0, nil
}

func checkFieldManager(q *request) error {
	if fm := q.r.URL.Query().Get("fieldManager"); len(fm) > 128 {
		return apierrors.NewBadRequest("fieldManager: Too long: may not be longer than 128 characters")
	}
	return nil
}

func (a *API) create(q *request) {
	out, obj, err := a.readRequestObject(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	created, err := a.createObject(q, obj)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	a.writeObject(q, out, http.StatusCreated, created)
}

// ttl is how long etcd keeps an object of q's resource after a write:
// events expire after Config.EventTTL, as in Kubernetes; nothing else does.
func (a *API) ttl(q *request) time.Duration {
	if q.storageRes.Group == "" && q.storageRes.Resource == "events" {
		return a.cfg.EventTTL
	}
	return 0
}

// readRequestObject negotiates the response and decodes the request body as the resource's kind.
func (a *API) readRequestObject(q *request) (outputKind, runtime.Object, error) {
	out, err := negotiate(q.r)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(q)
	if err != nil {
		return 0, nil, err
	}
	obj := q.res.New()
	if err := decodeBody(q, body, q.res.GVK(), obj); err != nil {
		return 0, nil, err
	}
	return out, obj, nil
}

// createObject runs the create path for a decoded object: naming, defaults,
// admission, validation, allocation and the etcd transaction.
func (a *API) createObject(q *request, obj runtime.Object) (runtime.Object, error) {
	if err := checkFieldManager(q); err != nil {
		return nil, err
	}
	dryRun, err := isDryRun(q)
	if err != nil {
		return nil, err
	}
	acc := mustAccessor(obj)
	if q.res.Namespaced {
		if ns := acc.GetNamespace(); ns != "" && ns != q.info.Namespace {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if q.info.Namespace == "" {
			return nil, apierrors.NewBadRequest("the namespace of the object is required")
		}
	}
	generated := acc.GetName() == "" && acc.GetGenerateName() != ""
	for attempt := 0; ; attempt++ {
		cur := obj.DeepCopyObject()
		cacc := mustAccessor(cur)
		if generated {
			cacc.SetName(generateName(cacc.GetGenerateName()))
		}
		normalize(cur)
		if a.cfg.Hooks.Default != nil {
			a.cfg.Hooks.Default(cur)
		}
		// The creator owns what it sent and the defaults, not what the
		// create strategy sets below (as in Kubernetes).
		cur = a.trackFields(q, "", nil, cur)
		prepareForCreate(q.res, cur, q.info.Namespace)
		if err := a.admitCreate(q, cur); err != nil {
			return nil, err
		}
		if a.cfg.Hooks.Validate != nil {
			if errs := a.cfg.Hooks.Validate(cur); len(errs) > 0 {
				return nil, invalid(q.res, cacc.GetName(), errs)
			}
		} else if cacc.GetName() == "" {
			return nil, invalid(q.res, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
		}
		claims, err := a.allocate(q, cur, nil)
		if err != nil {
			return nil, err
		}
		if dryRun {
			setGVK(cur, q.res.GVK())
			return cur, nil
		}
		data, err := encodeForStorage(q.res, q.storageRes, cur)
		if err != nil {
			return nil, unencodable(err)
		}
		key := q.key(cacc.GetName())
		rev, err := a.cfg.Store.CreateTTL(q.ctx, key, data, a.ttl(q), claimOps(claims, key)...)
		if errors.Is(err, storage.ErrExists) {
			if _, gerr := a.cfg.Store.Get(q.ctx, key); gerr == nil {
				if generated && attempt < 3 {
					continue
				}
				return nil, apierrors.NewAlreadyExists(q.groupResource(), cacc.GetName())
			}
			// An allocation collided with a concurrent create: pick again.
			if attempt < maxUpdateRetries {
				continue
			}
			return nil, apierrors.NewConflict(q.groupResource(), cacc.GetName(), fmt.Errorf("could not allocate a cluster IP or node port, try again"))
		}
		if err != nil {
			return nil, storageError(q, cacc.GetName(), err)
		}
		cacc.SetResourceVersion(strconv.FormatInt(rev, 10))
		setGVK(cur, q.res.GVK())
		return cur, nil
	}
}

// unencodable: what the client sent passed decoding and validation but cannot
// be stored (a value only protobuf can carry, a v1 HPA annotation that is not
// valid v2 metrics); the client's fault, so a 400.
func unencodable(err error) error {
	return apierrors.NewBadRequest(fmt.Sprintf("the object cannot be stored: %v", err))
}

func claimOps(claims []string, owner string) []clientv3.Op {
	ops := make([]clientv3.Op, len(claims))
	for i, k := range claims {
		ops[i] = clientv3.OpPut(k, owner)
	}
	return ops
}

func storageError(q *request, name string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(q.groupResource(), name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(q.groupResource(), name)
	case errors.Is(err, storage.ErrConflict):
		return conflict(q, name)
	}
	return apierrors.NewInternalError(err)
}

func conflict(q *request, name string) error {
	return apierrors.NewConflict(q.groupResource(), name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// updateKind says which strategy an update goes through.
type updateKind int

const (
	updateMain updateKind = iota
	updateStatus
	// updateRaw writes what tryUpdate returns without the main/status split
	// (subresources such as binding, scale and finalize).
	updateRaw
)

// guaranteedUpdate reads the current object from etcd, computes the new one
// with tryUpdate, runs the update strategy and writes it with
// compare-and-swap, retrying when someone else wrote first and the caller
// did not pin a resourceVersion.
func (a *API) guaranteedUpdate(q *request, name string, kind updateKind, tryUpdate func(cur runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	dryRun, err := isDryRun(q)
	if err != nil {
		return nil, err
	}
	if err := checkFieldManager(q); err != nil {
		return nil, err
	}
	key := q.key(name)
	for attempt := 0; ; attempt++ {
		kv, err := a.cfg.Store.Get(q.ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, apierrors.NewNotFound(q.groupResource(), name)
		}
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		cur, err := a.decodeStored(q.res, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		next, err := tryUpdate(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		nacc := mustAccessor(next)
		pinned := nacc.GetResourceVersion() != ""
		if pinned && nacc.GetResourceVersion() != strconv.FormatInt(kv.ModRevision, 10) {
			return nil, conflict(q, name)
		}
		if nacc.GetUID() != "" && nacc.GetUID() != mustAccessor(cur).GetUID() {
			return nil, apierrors.NewConflict(q.groupResource(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", nacc.GetUID(), mustAccessor(cur).GetUID()))
		}
		normalize(next)
		if kind == updateStatus {
			next = prepareForStatusUpdate(next, cur)
		}
		if a.cfg.Hooks.Default != nil {
			a.cfg.Hooks.Default(next)
		}
		if sub, tracked := trackedSubresource(q, kind); tracked {
			next = a.trackFields(q, sub, cur, next)
		}
		if kind == updateMain {
			prepareForUpdate(q.res, next, cur)
		}
		nacc = mustAccessor(next)
		nacc.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
		if err := a.admitUpdate(q, next, cur); err != nil {
			return nil, err
		}
		// Raw updates (binding, finalize, budget bookkeeping) are checked by
		// their handlers: they change fields a normal update may not.
		var errs field.ErrorList
		switch {
		case kind == updateStatus && a.cfg.Hooks.ValidateStatusUpdate != nil:
			errs = a.cfg.Hooks.ValidateStatusUpdate(next, cur)
		case kind == updateMain && a.cfg.Hooks.ValidateUpdate != nil:
			errs = a.cfg.Hooks.ValidateUpdate(next, cur)
		}
		if len(errs) > 0 {
			return nil, invalid(q.res, name, errs)
		}
		claims, err := a.allocate(q, next, cur)
		if err != nil {
			return nil, err
		}
		releases := a.releasable(next, cur)
		setGVK(next, q.res.GVK())
		if dryRun {
			return next, nil
		}
		// An object being deleted is removed once its last finalizer is gone.
		if nacc.GetDeletionTimestamp() != nil && len(nacc.GetFinalizers()) == 0 && !deletionPending(next) {
			rev, err := a.cfg.Store.Delete(q.ctx, key, kv.ModRevision, deleteOps(releasesAll(a, next))...)
			if errors.Is(err, storage.ErrConflict) && !pinned && attempt < maxUpdateRetries {
				continue
			}
			if err != nil {
				return nil, storageError(q, name, err)
			}
			nacc.SetResourceVersion(strconv.FormatInt(rev, 10))
			return next, nil
		}
		if sameJSON(next, cur) {
			return cur, nil
		}
		data, err := encodeForStorage(q.res, q.storageRes, next)
		if err != nil {
			return nil, unencodable(err)
		}
		ops := append(claimOps(claims, key), deleteOps(releases)...)
		rev, err := a.cfg.Store.UpdateTTL(q.ctx, key, data, kv.ModRevision, a.ttl(q), ops...)
		if errors.Is(err, storage.ErrConflict) {
			if pinned {
				// Either the object changed or a claimed allocation is taken.
				if len(claims) == 0 {
					return nil, conflict(q, name)
				}
			}
			if attempt < maxUpdateRetries {
				continue
			}
			return nil, conflict(q, name)
		}
		if err != nil {
			return nil, storageError(q, name, err)
		}
		nacc.SetResourceVersion(strconv.FormatInt(rev, 10))
		return next, nil
	}
}

// fieldManagerName is who managedFields credits: the fieldManager parameter,
// else the User-Agent's product (kubectl-client-side-apply, helm, ...).
func fieldManagerName(q *request) string {
	if m := q.r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	return fieldmanager.ManagerFromUserAgent(q.r.UserAgent())
}

// trackedSubresource says which managedFields scope a write updates; binding,
// eviction and budget bookkeeping are not tracked, as in Kubernetes.
func trackedSubresource(q *request, kind updateKind) (string, bool) {
	switch {
	case kind == updateStatus:
		return "status", true
	case kind == updateMain && q.info.Subresource == "scale":
		return "scale", true
	case kind == updateMain:
		return "", true
	case q.info.Subresource == "finalize":
		return "finalize", true
	}
	return "", false
}

// trackFields records in obj's managedFields what the request's manager
// changed from live (nil on create). A server-side apply already did; a
// failure keeps live's entries and the write goes on (Kubernetes'
// UpdateNoErrors).
func (a *API) trackFields(q *request, sub string, live, obj runtime.Object) runtime.Object {
	if q.applied {
		return obj
	}
	keep := func() runtime.Object {
		var entries []metav1.ManagedFieldsEntry
		if live != nil {
			entries = mustAccessor(live).GetManagedFields()
		}
		mustAccessor(obj).SetManagedFields(entries)
		return obj
	}
	if a.cfg.FieldManager == nil {
		return keep()
	}
	out, err := a.cfg.FieldManager.Update(q.res.GVK(), sub, live, obj, fieldManagerName(q))
	if err != nil {
		a.lg.Warn("failed to track managed fields", zap.String("resource", q.res.Resource), zap.Error(err))
		return keep()
	}
	return out
}

func deleteOps(keys []string) []clientv3.Op {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpDelete(k)
	}
	return ops
}

// deletionPending: some objects stay after their finalizers are gone — a pod
// in graceful termination until the kubelet confirms, a namespace until its
// spec.finalizers are cleared through /finalize.
func deletionPending(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o.DeletionGracePeriodSeconds != nil && *o.DeletionGracePeriodSeconds > 0
	case *corev1.Namespace:
		return len(o.Spec.Finalizers) > 0
	}
	return false
}

func (a *API) update(q *request) {
	a.replace(q, updateMain)
}

// replace is PUT of the main resource or of its status.
func (a *API) replace(q *request, kind updateKind) {
	out, obj, err := a.readRequestObject(q)
	if err == nil {
		err = checkNameAndNamespace(q, obj)
	}
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	result, err := a.guaranteedUpdate(q, q.info.Name, kind, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	a.writeObject(q, out, http.StatusOK, result)
}

func checkNameAndNamespace(q *request, obj runtime.Object) error {
	acc := mustAccessor(obj)
	if acc.GetName() != q.info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), q.info.Name))
	}
	if q.res.Namespaced && acc.GetNamespace() != "" && acc.GetNamespace() != q.info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	acc.SetNamespace(q.info.Namespace)
	return nil
}

// deleteOptions merges DeleteOptions from the body and the query string.
func deleteOptions(q *request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(q)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		js, err := bodyToJSON(q, body, metav1.SchemeGroupVersion.WithKind("DeleteOptions"))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(js, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid delete options: %v", trimJSONError(err)))
		}
	}
	v := q.r.URL.Query()
	if g := v.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds: %q", g))
		}
		opts.GracePeriodSeconds = &n
	}
	if p := v.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := v.Get("orphanDependents"); o != "" {
		b := o == "true"
		opts.OrphanDependents = &b
	}
	if d := v["dryRun"]; len(d) > 0 {
		opts.DryRun = d
	}
	for _, d := range opts.DryRun {
		if d != "All" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid dry run option: %q", d))
		}
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, invalid(q.res, q.info.Name, field.ErrorList{field.NotSupported(field.NewPath("propagationPolicy"), *opts.PropagationPolicy, []string{"Foreground", "Background", "Orphan"})})
		}
		if opts.OrphanDependents != nil {
			return nil, invalid(q.res, q.info.Name, field.ErrorList{field.Invalid(field.NewPath("propagationPolicy"), *opts.PropagationPolicy, "orphanDependents and deletionPropagation cannot be both set")})
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (a *API) delete(q *request) {
	out, err := negotiate(q.r)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	opts, err := deleteOptions(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	obj, deleted, err := a.deleteObject(q, q.info.Name, opts)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	code := http.StatusOK
	if !deleted && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		code = http.StatusAccepted
	}
	if deleted && !returnsDeletedObject(q) {
		acc := mustAccessor(obj)
		writeJSON(q.w, q.r, code, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details:  &metav1.StatusDetails{Name: acc.GetName(), Group: q.res.Group, Kind: q.res.Resource, UID: acc.GetUID()},
		})
		return
	}
	a.writeObject(q, out, code, obj)
}

// returnsDeletedObject: kube-apiserver returns the object itself when
// deleting pods (and a few others), a Status for the rest.
func returnsDeletedObject(q *request) bool {
	switch q.res.Resource {
	case "pods", "services", "persistentvolumes", "persistentvolumeclaims", "resourcequotas", "serviceaccounts", "storageclasses":
		return true
	}
	return false
}

// deleteObject deletes or marks an object. deleted is false when it was only
// marked for deletion (finalizers or graceful termination pending).
func (a *API) deleteObject(q *request, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	key := q.key(name)
	dryRun := len(opts.DryRun) > 0
	for attempt := 0; ; attempt++ {
		kv, err := a.cfg.Store.Get(q.ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, apierrors.NewNotFound(q.groupResource(), name)
		}
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		cur, err := a.decodeStored(q.res, kv.Value, kv.ModRevision)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		setGVK(cur, q.res.GVK())
		acc := mustAccessor(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != acc.GetUID() {
				return nil, false, apierrors.NewConflict(q.groupResource(), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, acc.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(q.groupResource(), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, acc.GetResourceVersion()))
			}
		}
		if err := a.admitDelete(q, cur); err != nil {
			return nil, false, err
		}
		marked, mark := a.deletionMark(q, cur, opts)
		if mark {
			if dryRun {
				return marked, false, nil
			}
			data, err := encodeForStorage(q.res, q.storageRes, marked)
			if err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
			if sameJSON(marked, cur) {
				return cur, false, nil
			}
			rev, err := a.cfg.Store.UpdateTTL(q.ctx, key, data, kv.ModRevision, a.ttl(q))
			if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
				continue
			}
			if err != nil {
				return nil, false, storageError(q, name, err)
			}
			mustAccessor(marked).SetResourceVersion(strconv.FormatInt(rev, 10))
			setGVK(marked, q.res.GVK())
			return marked, false, nil
		}
		if dryRun {
			return cur, true, nil
		}
		rev, err := a.cfg.Store.Delete(q.ctx, key, kv.ModRevision, deleteOps(releasesAll(a, cur))...)
		if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
			continue
		}
		if err != nil {
			return nil, false, storageError(q, name, err)
		}
		acc.SetResourceVersion(strconv.FormatInt(rev, 10))
		return cur, true, nil
	}
}

// deletionMark decides whether a delete only marks the object (returning
// the marked copy): finalizers, propagation policies, graceful pod
// termination and namespace termination.
func (a *API) deletionMark(q *request, cur runtime.Object, opts *metav1.DeleteOptions) (runtime.Object, bool) {
	obj := cur.DeepCopyObject()
	acc := mustAccessor(obj)
	finalizers := acc.GetFinalizers()
	addFinalizer := func(f string) {
		for _, x := range finalizers {
			if x == f {
				return
			}
		}
		finalizers = append(finalizers, f)
	}
	removeFinalizer := func(f string) {
		out := finalizers[:0]
		for _, x := range finalizers {
			if x != f {
				out = append(out, x)
			}
		}
		finalizers = out
	}
	orphan := opts.OrphanDependents != nil && *opts.OrphanDependents
	policy := opts.PropagationPolicy
	switch {
	case policy != nil && *policy == metav1.DeletePropagationForeground, opts.OrphanDependents != nil && !*opts.OrphanDependents:
		addFinalizer(metav1.FinalizerDeleteDependents)
		removeFinalizer(metav1.FinalizerOrphanDependents)
	case policy != nil && *policy == metav1.DeletePropagationOrphan, orphan:
		addFinalizer(metav1.FinalizerOrphanDependents)
		removeFinalizer(metav1.FinalizerDeleteDependents)
	case policy != nil && *policy == metav1.DeletePropagationBackground:
		removeFinalizer(metav1.FinalizerOrphanDependents)
		removeFinalizer(metav1.FinalizerDeleteDependents)
	}
	// Foreground and Orphan leave a finalizer for the garbage collector,
	// which removes it once dependents are handled, as in Kubernetes.
	now := metav1.NewTime(time.Now())

	switch o := obj.(type) {
	case *corev1.Namespace:
		if len(o.Spec.Finalizers) > 0 || len(finalizers) > 0 {
			if o.DeletionTimestamp == nil {
				o.DeletionTimestamp = &now
				zero := int64(0)
				o.DeletionGracePeriodSeconds = &zero
			}
			o.Status.Phase = corev1.NamespaceTerminating
			o.Finalizers = finalizers
			return o, true
		}
	case *corev1.Pod:
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if o.Spec.TerminationGracePeriodSeconds != nil {
			grace = *o.Spec.TerminationGracePeriodSeconds
		}
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		// Pods that never ran or already ended go at once.
		if o.Spec.NodeName == "" || o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			grace = 0
		}
		if o.DeletionGracePeriodSeconds != nil && *o.DeletionGracePeriodSeconds < grace {
			grace = *o.DeletionGracePeriodSeconds // a grace period can only shrink
		}
		if grace > 0 {
			if o.DeletionGracePeriodSeconds == nil || *o.DeletionGracePeriodSeconds != grace {
				ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
				o.DeletionTimestamp = &ts
				o.DeletionGracePeriodSeconds = &grace
			}
			o.Finalizers = finalizers
			return o, true
		}
		if len(finalizers) > 0 {
			zero := int64(0)
			o.DeletionGracePeriodSeconds = &zero
		}
	}
	if len(finalizers) == 0 {
		return nil, false
	}
	acc.SetFinalizers(finalizers)
	if acc.GetDeletionTimestamp() == nil {
		acc.SetDeletionTimestamp(&now)
		zero := int64(0)
		acc.SetDeletionGracePeriodSeconds(&zero)
	}
	return obj, true
}

func (a *API) deleteCollection(q *request) {
	opts, err := deleteOptions(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	lopts, err := a.parseListOptions(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if err := a.waitCache(q, ""); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	prefix := a.cfg.Store.ListPrefix(q.storageRes.Resource, q.info.Namespace)
	items, _, _ := a.cfg.Cache.List(q.storageRes.Resource, prefix, "", lopts.match(), 0)
	for _, it := range items {
		sub := *q
		sub.info.Namespace = it.Namespace
		if _, _, err := a.deleteObject(&sub, it.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			writeStatus(q.w, q.r, err)
			return
		}
	}
	writeJSON(q.w, q.r, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
	})
}
