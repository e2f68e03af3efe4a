package fieldmanager

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/yaml"
)

var patchOptionsKind = metav1.SchemeGroupVersion.WithKind("PatchOptions").GroupKind()

// Apply merges an apply configuration (YAML or JSON bytes, as sent with
// Content-Type application/apply-patch+yaml) into live (nil when the object
// does not exist yet) and returns the result with managedFields; conflicts
// return a 409 apierrors.NewApplyConflict like Kubernetes unless force.
//
// gvk is the resource's kind; for subresource "scale" the configuration is
// an autoscaling/v1 Scale and the result is a copy of the parent live with
// spec.replicas applied. The result is defaulted and otherwise as the
// configuration made it: the caller still runs the update (or, when live
// is nil, create) strategy, admission and validation on it, and checks its
// name and namespace against the request's when live is nil.
//
// Every error is an API status error: 400 for a configuration that is not
// a single object of gvk (or names another object than live), 422 for one
// that does not fit the kind's schema or an apply without a manager, 404
// for a subresource of a missing object, 409 for conflicts, 500 for
// failures of the server's own.
func (m *Manager) Apply(gvk schema.GroupVersionKind, subresource string, live runtime.Object, patch []byte, manager string, force bool) (runtime.Object, error) {
	km, err := m.managerFor(gvk, subresource)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if manager == "" {
		return nil, apierrors.NewInvalid(patchOptionsKind, "", field.ErrorList{
			field.Required(field.NewPath("fieldManager"), "is required for apply patch"),
		})
	}
	content, err := decodeApplyPatch(patch)
	if err != nil {
		return nil, err
	}
	applied := &unstructured.Unstructured{Object: content}
	if err := m.checkApplied(km, applied, live); err != nil {
		return nil, err
	}
	if live == nil {
		if subresource != "" {
			res, _ := m.reg.LookupKind(gvk)
			return nil, apierrors.NewNotFound(res.GroupResource(), applied.GetName())
		}
		if live, err = newObject(gvk); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}

	var out runtime.Object
	if km.scale {
		out, err = m.applyScale(km, live, applied, manager, force)
	} else {
		out, err = km.fm.Apply(live, applied, manager, force)
	}
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, err
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("fieldmanager: apply %v: %w", gvk, err))
	}
	return out, nil
}

// decodeApplyPatch reads the one object of an apply configuration. Clients
// (client-go, kubectl --server-side) mostly send JSON, which is decoded as
// such, integers as int64; anything else is YAML, whose numbers decode as
// float64 as in kube-apiserver. Both convert to the kinds' integer fields.
func decodeApplyPatch(patch []byte) (map[string]any, error) {
	if trimmed := bytes.TrimSpace(patch); len(trimmed) > 0 && trimmed[0] == '{' {
		// The YAML parser would take the first of several JSON objects.
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		var first json.RawMessage
		if err := dec.Decode(&first); err == nil {
			if dec.InputOffset() != int64(len(trimmed)) {
				return nil, apierrors.NewBadRequest("error decoding patch: an apply patch must hold a single object, found more after it")
			}
			var obj map[string]any
			if err := kjson.UnmarshalCaseSensitivePreserveInts(first, &obj); err == nil {
				return obj, nil
			}
		}
		// Not JSON after all: a YAML flow mapping, or an error YAML will report.
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(patch)))
	var obj map[string]any
	docs := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		if v == nil {
			continue // an empty document, a comment or a leading "---"
		}
		if docs++; docs > 1 {
			return nil, apierrors.NewBadRequest("error decoding patch: an apply patch must hold a single object, found several YAML documents")
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: an apply patch must be an object, not %s", describe(v)))
		}
		obj = m
	}
	if obj == nil {
		return nil, apierrors.NewBadRequest("error decoding patch: the apply patch is empty")
	}
	return obj, nil
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// checkApplied validates an apply configuration before it reaches
// structured-merge-diff, so that what is wrong with it is the client's
// error (4xx), not the server's.
func (m *Manager) checkApplied(km *kindManager, applied *unstructured.Unstructured, live runtime.Object) error {
	want := km.applyGVK
	apiVersion, _ := applied.Object["apiVersion"].(string)
	kind, _ := applied.Object["kind"].(string)
	if apiVersion != want.GroupVersion().String() || kind != want.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid object type: the apply patch has apiVersion %q and kind %q, want %q and %q",
			apiVersion, kind, want.GroupVersion().String(), want.Kind))
	}
	md, hasMeta := applied.Object["metadata"]
	mdMap, isMap := md.(map[string]any)
	if hasMeta && md != nil && !isMap {
		return apierrors.NewBadRequest("error decoding patch: metadata must be an object")
	}
	if _, ok := mdMap["managedFields"]; ok {
		return apierrors.NewBadRequest("metadata.managedFields must be nil")
	}
	name, isString := mdMap["name"].(string)
	if _, has := mdMap["name"]; has && !isString {
		return apierrors.NewBadRequest("error decoding patch: metadata.name must be a string")
	}
	namespace, isString := mdMap["namespace"].(string)
	if _, has := mdMap["namespace"]; has && !isString {
		return apierrors.NewBadRequest("error decoding patch: metadata.namespace must be a string")
	}
	if live != nil {
		acc, err := accessor(live)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		if name != "" && name != acc.GetName() {
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", name, acc.GetName()))
		}
		if namespace != "" && namespace != acc.GetNamespace() {
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else if name == "" {
		return apierrors.NewInvalid(want.GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name is required in an apply patch"),
		})
	}

	// What structured-merge-diff accepts: known fields of the right types,
	// no duplicate keys in associative lists.
	if _, err := m.types.ObjectToTyped(applied); err != nil {
		return invalidPatch(want, name, err)
	}
	// What the Go types accept: times, quantities and integers the merged
	// object must convert back to.
	obj, err := newObject(want)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(applied.Object, obj); err != nil {
		return invalidPatch(want, name, err)
	}
	return nil
}

// invalidPatch is the 422 for an apply configuration that does not fit
// the kind, one cause per field structured-merge-diff names.
func invalidPatch(gvk schema.GroupVersionKind, name string, err error) error {
	var list field.ErrorList
	var verrs typed.ValidationErrors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			p := strings.TrimPrefix(e.Path, ".")
			if p == "" {
				p = "patch"
			}
			list = append(list, field.Invalid(field.NewPath(p), field.OmitValueType{}, e.ErrorMessage))
		}
	}
	if len(list) == 0 {
		list = field.ErrorList{field.Invalid(field.NewPath("patch"), field.OmitValueType{}, err.Error())}
	}
	return apierrors.NewInvalid(gvk.GroupKind(), name, list)
}
