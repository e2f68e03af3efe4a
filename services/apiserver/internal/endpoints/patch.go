package endpoints

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxJSONPatchOperations bounds the work one JSON patch can cause, as Kubernetes does.
const maxJSONPatchOperations = 10000

// patchType reads the patch Content-Type and checks the apply-only force parameter.
func patchType(q *request) (types.PatchType, error) {
	pt := types.PatchType(mediaType(q.r.Header.Get("Content-Type")))
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType:
		if q.api().cfg.FieldManager == nil {
			return "", unsupportedMediaType(string(pt), supportedPatchTypes(false)...)
		}
	default:
		return "", unsupportedMediaType(string(pt), supportedPatchTypes(q.api().cfg.FieldManager != nil)...)
	}
	force := q.r.URL.Query().Get("force")
	if force != "" && pt != types.ApplyYAMLPatchType {
		return "", apierrors.NewInvalid(patchOptionsKind, "", field.ErrorList{field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch")})
	}
	if force != "" && force != "true" && force != "false" {
		return "", apierrors.NewBadRequest(fmt.Sprintf("invalid force parameter %q", force))
	}
	return pt, nil
}

var patchOptionsKind = metav1.SchemeGroupVersion.WithKind("PatchOptions").GroupKind()

func supportedPatchTypes(apply bool) []string {
	out := []string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType)}
	if apply {
		out = append(out, string(types.ApplyYAMLPatchType))
	}
	return out
}

// applyTo runs a server-side apply of body to cur for subresource sub ("" or
// "status" or "scale"). The result keeps cur's resourceVersion unless the
// patch pins one, so that only pinned applies refuse to retry.
func (a *API) applyTo(q *request, sub string, cur runtime.Object, body []byte) (runtime.Object, error) {
	q.applied = true
	force := q.r.URL.Query().Get("force") == "true"
	next, err := a.cfg.FieldManager.Apply(q.res.GVK(), sub, cur, body, q.r.URL.Query().Get("fieldManager"), force)
	if err != nil {
		return nil, err
	}
	if cur != nil {
		acc := mustAccessor(next)
		if acc.GetResourceVersion() == mustAccessor(cur).GetResourceVersion() {
			acc.SetResourceVersion("")
		}
	}
	return next, nil
}

// applyCreate creates the object a server-side apply names when it does not exist yet.
func (a *API) applyCreate(q *request, body []byte) (runtime.Object, error) {
	obj, err := a.applyTo(q, "", nil, body)
	if err != nil {
		return nil, err
	}
	acc := mustAccessor(obj)
	if acc.GetName() != q.info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), q.info.Name))
	}
	if q.res.Namespaced && acc.GetNamespace() != "" && acc.GetNamespace() != q.info.Namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return a.createObject(q, obj)
}

// applyPatch applies a patch document to the JSON of cur and decodes the
// result into a fresh object of the same type.
func applyPatch(q *request, pt types.PatchType, patch []byte, cur runtime.Object, kind string) (runtime.Object, error) {
	curJSON, err := json.Marshal(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		patched, err = applyJSONPatch(p, curJSON)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", q.groupResource(), q.info.Name, err.Error(), 0, false)
		}
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		patched, err = jsonpatch.MergePatch(curJSON, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	case types.StrategicMergePatchType:
		var patchMap map[string]any
		if err := json.Unmarshal(patch, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", trimJSONError(err)))
		}
		schema := cur.DeepCopyObject()
		patched, err = strategicpatch.StrategicMergePatch(curJSON, patch, schema)
		if err != nil {
			if strings.Contains(err.Error(), "unable to find api field") || strings.Contains(err.Error(), "Unable to find") {
				return nil, apierrors.NewBadRequest(err.Error())
			}
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", q.groupResource(), q.info.Name, err.Error(), 0, false)
		}
	}
	// Decode into a zero value so fields removed by the patch are removed.
	zero, err := newLike(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if err := decodeInto(q, patched, zero, kind); err != nil {
		return nil, err
	}
	setGVK(zero, cur.GetObjectKind().GroupVersionKind())
	return zero, nil
}

// maxJSONPatchCopyBytes bounds what "copy" operations may add, as Kubernetes
// does: each copy can double the document.
const maxJSONPatchCopyBytes = 3 * 1024 * 1024

func init() {
	jsonpatch.AccumulatedCopySizeLimit = maxJSONPatchCopyBytes
}

// applyJSONPatch applies p; json-patch panics on some malformed operations
// (a whole-document test or replace without a value), which are the
// client's fault, not a server error.
func applyJSONPatch(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("invalid JSON patch: %v", r)
		}
	}()
	return p.Apply(doc)
}

// newLike returns a new zero object of obj's Go type.
func newLike(obj runtime.Object) (runtime.Object, error) {
	t := reflect.TypeOf(obj)
	if t.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("%T is not a pointer", obj)
	}
	out, ok := reflect.New(t.Elem()).Interface().(runtime.Object)
	if !ok {
		return nil, fmt.Errorf("%T is not an API object", obj)
	}
	return out, nil
}

func (a *API) patch(q *request) {
	a.patchWith(q, updateMain)
}

// patchWith patches the main resource or its status.
func (a *API) patchWith(q *request, kind updateKind) {
	out, err := negotiate(q.r)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	pt, err := patchType(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if _, err := fieldValidation(q); err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	body, err := readBody(q)
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	if pt == types.ApplyYAMLPatchType {
		sub := ""
		if kind == updateStatus {
			sub = "status"
		}
		result, err := a.guaranteedUpdate(q, q.info.Name, kind, func(cur runtime.Object) (runtime.Object, error) {
			return a.applyTo(q, sub, cur, body)
		})
		code := http.StatusOK
		if apierrors.IsNotFound(err) && kind == updateMain {
			result, err = a.applyCreate(q, body)
			code = http.StatusCreated
		}
		if err != nil {
			writeStatus(q.w, q.r, err)
			return
		}
		a.writeObject(q, out, code, result)
		return
	}
	result, err := a.guaranteedUpdate(q, q.info.Name, kind, func(cur runtime.Object) (runtime.Object, error) {
		setGVK(cur, q.res.GVK())
		next, err := applyPatch(q, pt, body, cur, q.res.Kind)
		if err != nil {
			return nil, err
		}
		acc := mustAccessor(next)
		if acc.GetName() != q.info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), q.info.Name))
		}
		if q.res.Namespaced && acc.GetNamespace() != q.info.Namespace {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if acc.GetResourceVersion() == mustAccessor(cur).GetResourceVersion() {
			// The patch did not pin a version: retry freely on conflicts.
			acc.SetResourceVersion("")
		}
		return next, nil
	})
	if err != nil {
		writeStatus(q.w, q.r, err)
		return
	}
	a.writeObject(q, out, http.StatusOK, result)
}
