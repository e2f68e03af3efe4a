package endpoints

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// outputKind is the representation a client asked for in Accept.
type outputKind int

const (
	outputObject outputKind = iota
	outputTable
	outputMetadata
	// outputProtobuf is an object in Kubernetes' protobuf envelope; used for
	// objects the server has in memory anyway (write responses). Reads from
	// the cache answer JSON, which such clients accept too.
	outputProtobuf
)

// negotiate reads Accept: JSON, a Table, metadata only, or protobuf when the
// client lists it first.
func negotiate(r *http.Request) (outputKind, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return outputObject, nil
	}
	jsonOK := false
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*", "application/json-patch+json", "application/merge-patch+json":
		case runtime.ContentTypeProtobuf:
			if params["as"] == "" && !jsonOK {
				return outputProtobuf, nil
			}
			continue
		default:
			continue
		}
		switch params["as"] {
		case "Table":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return outputTable, nil
			}
			continue
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return outputMetadata, nil
			}
			continue
		case "":
			jsonOK = true
		}
	}
	if !jsonOK {
		return 0, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io", 0, false)
	}
	return outputObject, nil
}

func isPretty(r *http.Request) bool {
	p := r.URL.Query().Get("pretty")
	return p == "true" || p == "1"
}

// writeJSON writes v as the response body with the given status code.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var body []byte
	var err error
	if isPretty(r) {
		body, err = json.MarshalIndent(v, "", "  ")
	} else {
		body, err = json.Marshal(v)
	}
	if err != nil {
		writeStatus(w, r, apierrors.NewInternalError(err))
		return
	}
	writeBody(w, r, code, body)
}

func writeBody(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	if isPretty(r) && !bytes.Contains(body[:min(len(body), 4)], []byte("\n")) {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte("\n"))
}

// writeStatus writes an error as a metav1.Status; anything that is not
// already an API status becomes a 500 (and is a bug to fix).
func writeStatus(w http.ResponseWriter, r *http.Request, err error) {
	var status metav1.Status
	if s, ok := err.(apierrors.APIStatus); ok {
		status = s.Status()
	} else {
		status = apierrors.NewInternalError(err).ErrStatus
	}
	status.Kind = "Status"
	status.APIVersion = "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, r, code, &status)
}

// protobufBody wraps obj in Kubernetes' protobuf envelope.
func protobufBody(obj runtime.Object, gvk schema.GroupVersionKind) ([]byte, error) {
	m, ok := obj.(interface{ Marshal() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	raw, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, Raw: raw}
	env, err := u.Marshal()
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(protobufMagic)+len(env)), protobufMagic...), env...), nil
}

// setGVK sets an object's apiVersion and kind for the wire.
func setGVK(obj runtime.Object, gvk schema.GroupVersionKind) {
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

func jsonMarshal(r *http.Request, v any) ([]byte, error) {
	if isPretty(r) {
		return json.MarshalIndent(v, "", "  ")
	}
	return json.Marshal(v)
}
