package endpoints

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const protobufType = "application/vnd.kubernetes.protobuf"

// bodyKind is one kind the fuzzer and the tables send bodies for.
type bodyKind struct {
	target string
	seed   runtime.Object
}

func bodyKinds() []bodyKind {
	labels := map[string]string{"app": "web"}
	return []bodyKind{
		{"/api/v1/namespaces/default/pods", &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Resources: corev1.ResourceRequirements{Limits: res("cpu", "500m", "memory", "128Mi")},
			}}},
		}},
		{"/apis/apps/v1/namespaces/default/deployments", &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%"))}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
				},
			},
		}},
		{"/api/v1/namespaces/default/services", &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Selector: labels, Type: corev1.ServiceTypeNodePort,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
		}},
		{"/api/v1/namespaces/default/configmaps", &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
			Data:       map[string]string{"key": "value"},
			BinaryData: map[string][]byte{"bin": {0, 1, 2}},
		}},
	}
}

func mustProtobuf(tb testing.TB, obj runtime.Object) []byte {
	tb.Helper()
	b, err := protobufBody(obj, obj.GetObjectKind().GroupVersionKind())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustJSONBody(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustYAMLBody(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeRequestBody runs the create path's body handling: read, then decode
// as the request's kind.
func decodeRequestBody(q *request) (runtime.Object, error) {
	body, err := readBody(q)
	if err != nil {
		return nil, err
	}
	obj := q.res.New()
	if err := decodeBody(q, body, q.res.GVK(), obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func TestDecodeBody(t *testing.T) {
	pod := bodyKinds()[0].seed.(*corev1.Pod)
	podJSON := mustJSONBody(t, pod)
	const pods = "/api/v1/namespaces/default/pods"
	tests := []struct {
		name        string
		target      string
		contentType string
		body        []byte
		wantCode    int // 0: success
		wantWarning bool
	}{
		{name: "json", target: pods, contentType: "application/json", body: podJSON},
		{name: "no content type is json", target: pods, body: podJSON},
		{name: "json with charset", target: pods, contentType: "application/json; charset=utf-8", body: podJSON},
		{name: "yaml", target: pods, contentType: "application/yaml", body: mustYAMLBody(t, pod)},
		{name: "x-yaml", target: pods, contentType: "application/x-yaml", body: mustYAMLBody(t, pod)},
		{name: "protobuf", target: pods, contentType: protobufType, body: mustProtobuf(t, pod)},
		{name: "no apiVersion and kind", target: pods, body: []byte(`{"metadata":{"name":"web"}}`)},
		{name: "unknown field warns", target: pods, body: []byte(`{"metadata":{"name":"web"},"spec":{"bogus":1}}`), wantWarning: true},
		{name: "unknown field ignored", target: pods + "?fieldValidation=Ignore", body: []byte(`{"metadata":{"name":"web"},"spec":{"bogus":1}}`)},
		{name: "duplicate field warns", target: pods, body: []byte(`{"metadata":{"name":"a","name":"b"}}`), wantWarning: true},

		{name: "unknown field strict", target: pods + "?fieldValidation=Strict", body: []byte(`{"metadata":{"name":"web"},"spec":{"bogus":1}}`), wantCode: 400},
		{name: "duplicate field strict", target: pods + "?fieldValidation=Strict", body: []byte(`{"metadata":{"name":"a","name":"b"}}`), wantCode: 400},
		{name: "bad fieldValidation", target: pods + "?fieldValidation=Loose", body: podJSON, wantCode: 400},
		{name: "empty body", target: pods, body: nil, wantCode: 400},
		{name: "whitespace body", target: pods, body: []byte(" \n\t"), wantCode: 400},
		{name: "invalid json", target: pods, body: []byte(`{"metadata":`), wantCode: 400},
		{name: "json array", target: pods, body: []byte(`[]`), wantCode: 400},
		{name: "wrong kind", target: pods, body: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}`), wantCode: 400},
		{name: "wrong apiVersion", target: pods, body: []byte(`{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"web"}}`), wantCode: 400},
		{name: "wrong field type", target: pods, body: []byte(`{"metadata":{"name":5}}`), wantCode: 400},
		{name: "bad quantity", target: pods, body: []byte(`{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"lots"}}}]}}`), wantCode: 400},
		{name: "invalid yaml", target: pods, contentType: "application/yaml", body: []byte("metadata: [\n"), wantCode: 400},
		{name: "protobuf without the envelope", target: pods, contentType: protobufType, body: []byte("\x0a\x03web"), wantCode: 400},
		{name: "protobuf of another kind", target: pods, contentType: protobufType, body: mustProtobuf(t, bodyKinds()[2].seed), wantCode: 400},
		{name: "truncated protobuf", target: pods, contentType: protobufType, body: mustProtobuf(t, pod)[:20], wantCode: 400},
		{name: "unsupported media type", target: pods, contentType: "text/plain", body: podJSON, wantCode: 415},
		{name: "cbor is not supported", target: pods, contentType: "application/cbor", body: podJSON, wantCode: 415},
		{name: "too large", target: pods, body: bytes.Repeat([]byte(" "), MaxBodyBytes+1), wantCode: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestRequest(t, "POST", tt.target, tt.contentType, tt.body)
			obj, err := decodeRequestBody(q)
			if tt.wantCode != 0 {
				if err == nil {
					t.Fatalf("decoded %+v, want a %d", obj, tt.wantCode)
				}
				wantClientError(t, err)
				if c := statusCode(err); c != tt.wantCode {
					t.Fatalf("code %d (%v), want %d", c, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := obj.(*corev1.Pod)
			if got.Name == "" || got.APIVersion != "v1" || got.Kind != "Pod" {
				t.Errorf("decoded %s %s %q", got.APIVersion, got.Kind, got.Name)
			}
			if strings.HasPrefix(tt.name, "json") || tt.name == "yaml" || tt.name == "protobuf" {
				if !equality.Semantic.DeepEqual(got, pod) {
					t.Errorf("decoded pod differs from the one sent: %+v", got)
				}
			}
			warned := q.w.Header().Get("Warning") != ""
			if warned != tt.wantWarning {
				t.Errorf("Warning header %q, want a warning: %v", q.w.Header().Get("Warning"), tt.wantWarning)
			}
		})
	}
}

// FuzzDecodeBody: any bytes, sent as JSON, YAML or protobuf for any of a few
// kinds, decode to an object or fail with a 4xx API status; never a panic
// and never a 500.
func FuzzDecodeBody(f *testing.F) {
	contentTypes := []string{"application/json", "application/yaml", protobufType, "", "text/plain"}
	validations := []string{"", "?fieldValidation=Strict", "?fieldValidation=Ignore"}
	for i, k := range bodyKinds() {
		f.Add(uint8(i), uint8(0), uint8(0), mustJSONBody(f, k.seed))
		f.Add(uint8(i), uint8(1), uint8(1), mustYAMLBody(f, k.seed))
		f.Add(uint8(i), uint8(2), uint8(0), mustProtobuf(f, k.seed))
	}
	f.Add(uint8(0), uint8(0), uint8(1), []byte(`{"metadata":{"name":"a","name":"b"},"spec":{"x":1}}`))
	f.Add(uint8(1), uint8(1), uint8(0), []byte("a: &a [*a]\n"))
	f.Add(uint8(2), uint8(2), uint8(0), []byte("k8s\x00\x12\x00"))
	f.Add(uint8(3), uint8(0), uint8(0), []byte(`null`))
	kinds := bodyKinds()
	f.Fuzz(func(t *testing.T, kind, ct, validation uint8, body []byte) {
		if slowToDecode(body) {
			return
		}
		k := kinds[int(kind)%len(kinds)]
		q := newTestRequest(t, "POST", k.target+validations[int(validation)%len(validations)], contentTypes[int(ct)%len(contentTypes)], body)
		obj, err := decodeRequestBody(q)
		if err != nil {
			wantClientError(t, err)
			return
		}
		if gvk := obj.GetObjectKind().GroupVersionKind(); gvk != q.res.GVK() {
			t.Fatalf("decoded object has kind %v, want %v", gvk, q.res.GVK())
		}
		// What decodes must be storable: encoding it is the next step of a create.
		if _, err := json.Marshal(obj); err != nil {
			t.Fatalf("decoded object does not encode: %v", err)
		}
		if _, err := protobufBody(obj, q.res.GVK()); err != nil {
			t.Fatalf("decoded object has no protobuf encoding: %v", err)
		}
	})
}

// TestDecodeBodyProtobufMustEncode: protobuf carries IntOrString's type as a
// free integer; a body with a type JSON cannot express must be refused like
// any other undecodable body, not stored. (bodyToJSON, used for protobuf
// DeleteOptions, re-encodes and refuses it; decodeBody does not.)
func TestDecodeBodyProtobufMustEncode(t *testing.T) {
	bad := intstr.IntOrString{Type: 5, StrVal: "http"}
	np := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec:       networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &bad}}}}},
	}
	svc := bodyKinds()[2].seed.DeepCopyObject().(*corev1.Service)
	svc.Spec.Ports[0].TargetPort = bad
	tests := []struct {
		name   string
		target string
		obj    runtime.Object
	}{
		{"networkpolicy port", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", np},
		{"service targetPort", "/api/v1/namespaces/default/services", svc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestRequest(t, "POST", tt.target, protobufType, mustProtobuf(t, tt.obj))
			obj, err := decodeRequestBody(q)
			if err == nil {
				_, encErr := json.Marshal(obj)
				t.Fatalf("decoded an object that does not encode (%v), want a 400", encErr)
			}
			wantClientError(t, err)
		})
	}
}

// TestNewForKind: DeleteOptions are meta's whatever the group.
func TestNewForKind(t *testing.T) {
	obj, err := newForKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DeleteOptions"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.(*metav1.DeleteOptions); !ok {
		t.Errorf("newForKind(DeleteOptions) = %T", obj)
	}
	if _, err := newForKind(schema.GroupVersionKind{Version: "v1", Kind: "NoSuchKind"}); err == nil {
		t.Error("newForKind of an unknown kind succeeded")
	}
}
