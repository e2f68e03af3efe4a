package endpoints

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/registry"
)

// readBody reads a request body of at most MaxBodyBytes, converting YAML to JSON.
func readBody(q *request) ([]byte, error) {
	if q.r.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to read request body: %v", err))
	}
	if len(body) > MaxBodyBytes {
		return nil, tooLarge()
	}
	return body, nil
}

func tooLarge() error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", MaxBodyBytes))
}

// protobufMagic starts Kubernetes' protobuf envelope (a runtime.Unknown);
// client-go's clientsets send built-in types that way.
var protobufMagic = []byte("k8s\x00")

// decodeProtobuf unwraps the envelope and decodes its payload into into,
// which must be a generated k8s.io/api (or meta) type of the expected kind.
func decodeProtobuf(body []byte, gvk schema.GroupVersionKind, into runtime.Object) error {
	if !bytes.HasPrefix(body, protobufMagic) {
		return fmt.Errorf("missing protobuf envelope")
	}
	var u runtime.Unknown
	if err := u.Unmarshal(body[len(protobufMagic):]); err != nil {
		return err
	}
	if u.Kind != "" && u.Kind != gvk.Kind {
		return fmt.Errorf("the body is a %s, expected %s", u.Kind, gvk.Kind)
	}
	m, ok := into.(interface{ Unmarshal([]byte) error })
	if !ok {
		return fmt.Errorf("%s has no protobuf encoding", gvk.Kind)
	}
	return m.Unmarshal(u.Raw)
}

// bodyToJSON checks the Content-Type of a create/update body and returns
// JSON; protobuf bodies are decoded as gvk and re-encoded.
func bodyToJSON(q *request, body []byte, gvk schema.GroupVersionKind) ([]byte, error) {
	ct := q.r.Header.Get("Content-Type")
	switch mediaType(ct) {
	case "", "application/json", "*/*":
		return body, nil
	case runtime.ContentTypeProtobuf:
		into, err := newForKind(gvk)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if err := decodeProtobuf(body, gvk, into); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to decode protobuf body: %v", err))
		}
		into.GetObjectKind().SetGroupVersionKind(gvk)
		js, err := json.Marshal(into)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return js, nil
	case "application/yaml", "application/x-yaml", "text/yaml":
		js, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to decode YAML body: %v", err))
		}
		return js, nil
	}
	return nil, unsupportedMediaType(ct, "application/json", "application/yaml", runtime.ContentTypeProtobuf)
}

func unsupportedMediaType(ct string, supported ...string) error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(supported, ", ")), 0, false)
}

// fieldValidation is the fieldValidation query parameter: Ignore, Warn or Strict.
func fieldValidation(q *request) (string, error) {
	v := q.r.URL.Query().Get("fieldValidation")
	switch v {
	case "":
		return "Warn", nil
	case "Ignore", "Warn", "Strict":
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation parameter unsupported: %q", v))
}

// decodeInto decodes a JSON body into obj and applies the fieldValidation
// policy to unknown and duplicate fields. Warnings go to the Warning header.
func decodeInto(q *request, data []byte, obj runtime.Object, kind string) error {
	mode, err := fieldValidation(q)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return apierrors.NewBadRequest("request body must not be empty")
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", kind, q.res.Version, kind, trimJSONError(err)))
	}
	if len(strictErrs) == 0 || mode == "Ignore" {
		return nil
	}
	if mode == "Strict" {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s", kind, q.res.Version, kind, strings.Join(msgs, ", ")))
	}
	for _, e := range strictErrs {
		q.w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, e.Error()))
	}
	return nil
}

func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// newForKind returns an empty object of gvk; DeleteOptions is meta's, not the group's.
func newForKind(gvk schema.GroupVersionKind) (runtime.Object, error) {
	if gvk.Kind == "DeleteOptions" {
		return &metav1.DeleteOptions{}, nil
	}
	return scheme.Scheme.New(gvk)
}

func trimJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// decodeBody decodes a create/update body as the request's kind and checks its apiVersion/kind.
func decodeBody(q *request, body []byte, gvk schema.GroupVersionKind, obj runtime.Object) error {
	if mediaType(q.r.Header.Get("Content-Type")) == runtime.ContentTypeProtobuf {
		// Protobuf has no unknown fields to police: decode straight into obj.
		if err := decodeProtobuf(body, gvk, obj); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("unable to decode protobuf body: %v", err))
		}
		// Protobuf can carry values JSON cannot (an IntOrString of an
		// unknown type); refuse them now rather than fail to store them.
		if _, err := json.Marshal(obj); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("unable to decode protobuf body: %v", err))
		}
		setGVK(obj, gvk)
		return nil
	}
	js, err := bodyToJSON(q, body, gvk)
	if err != nil {
		return err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("couldn't get version/kind; json parse error: %v", trimJSONError(err)))
	}
	if tm.Kind != "" && tm.Kind != gvk.Kind || tm.APIVersion != "" && tm.APIVersion != gvk.GroupVersion().String() {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", tm.APIVersion, gvk.GroupVersion().String()))
	}
	if err := decodeInto(q, js, obj, gvk.Kind); err != nil {
		return err
	}
	setGVK(obj, gvk)
	return nil
}

// decodeStored decodes an object read from etcd (or the cache) and returns
// it in the request's version.
func (a *API) decodeStored(res *registry.Resource, raw []byte, rv int64) (runtime.Object, error) {
	storageRes, _ := a.cfg.Registry.Lookup(res.Storage)
	obj := storageRes.New()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", res.Storage.Resource, err)
	}
	setGVK(obj, storageRes.GVK())
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(rv, 10))
	if res.StoredAsSelf() {
		return obj, nil
	}
	return fromStorage(res, obj)
}

func (a *API) decodeItem(res *registry.Resource, it *cache.Item) (runtime.Object, error) {
	return a.decodeStored(res, it.Raw, it.RV)
}

// encodeForStorage returns the bytes to store: the object in its storage
// version, without a resourceVersion.
func encodeForStorage(res *registry.Resource, storageRes *registry.Resource, obj runtime.Object) ([]byte, error) {
	if !res.StoredAsSelf() {
		var err error
		if obj, err = toStorage(res, obj); err != nil {
			return nil, err
		}
	}
	setGVK(obj, storageRes.GVK())
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	data, err := json.Marshal(obj)
	acc.SetResourceVersion(rv)
	if !res.StoredAsSelf() {
		// obj was a converted copy; nothing to restore on the caller's object.
		return data, err
	}
	setGVK(obj, res.GVK())
	return data, err
}
