package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"drover.dev/apiserver/internal/registry"
)

func TestSchemas(t *testing.T) {
	reg := registry.Builtin()
	defs, err := Schemas(reg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every kind has a definition", func(t *testing.T) {
		kinds := map[schema.GroupVersionKind]bool{}
		for _, s := range defs {
			for _, gvk := range gvkList(s.Extensions[extGVK]) {
				kinds[gvk] = true
			}
		}
		for _, res := range reg.Resources() {
			if !kinds[res.GVK()] {
				t.Errorf("no definition for %v", res.GVK())
			}
			for _, sub := range res.Subresources {
				if !kinds[sub.GVK] {
					t.Errorf("no definition for %v (%s/%s)", sub.GVK, res.Resource, sub.Name)
				}
			}
		}
	})

	t.Run("references resolve", func(t *testing.T) {
		const prefix = "#/components/schemas/"
		var walk func(name string, v any)
		walk = func(name string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"].(string); ok {
					if !strings.HasPrefix(ref, prefix) || defs[strings.TrimPrefix(ref, prefix)] == nil {
						t.Errorf("%s: dangling %s", name, ref)
					}
				}
				for _, e := range v {
					walk(name, e)
				}
			case []any:
				for _, e := range v {
					walk(name, e)
				}
			}
		}
		for name, s := range defs {
			walk(name, toJSONValue(t, s))
		}
	})

	// The definitions are the served v3 components, except that a kind
	// registered in many group/versions keeps all of them.
	t.Run("same as served v3", func(t *testing.T) {
		s := newService(t)
		docs, err := buildDocuments(reg)
		if err != nil {
			t.Fatal(err)
		}
		compared := 0
		for _, d := range docs {
			body, err := s.v3[d.key].json.plain()
			if err != nil {
				t.Fatal(err)
			}
			var served struct {
				Components struct {
					Schemas map[string]any `json:"schemas"`
				} `json:"components"`
			}
			if err := json.Unmarshal(body, &served); err != nil {
				t.Fatal(err)
			}
			for name, want := range served.Components.Schemas {
				ours, ok := defs[name]
				if !ok {
					t.Errorf("%s: %s missing", d.key, name)
					continue
				}
				if got := toJSONValue(t, scopeGVKs(ours, d.gv)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %s differs from the served schema", d.key, name)
				}
				compared++
			}
		}
		if compared < len(defs) {
			t.Errorf("compared %d served schemas, want at least the %d definitions", compared, len(defs))
		}
	})

	t.Run("type converter", func(t *testing.T) {
		tc, err := managedfields.NewTypeConverter(defs, false)
		if err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}}}},
		}
		tv, err := tc.ObjectToTyped(pod)
		if err != nil {
			t.Fatal(err)
		}
		set, err := tv.ToFieldSet()
		if err != nil {
			t.Fatal(err)
		}
		// Containers are a map keyed by name and ports by port and
		// protocol, as in Kubernetes' models.
		got := set.String()
		for _, want := range []string{`.spec.containers[name="c"].image`, `.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"].containerPort`} {
			if !strings.Contains(got, want) {
				t.Errorf("field set lacks %s:\n%s", want, got)
			}
		}
	})

	t.Run("fresh map per call", func(t *testing.T) {
		again, err := Schemas(reg)
		if err != nil {
			t.Fatal(err)
		}
		if again["io.k8s.api.core.v1.Pod"] == defs["io.k8s.api.core.v1.Pod"] {
			t.Error("Schemas shares definitions between calls")
		}
	})
}

func toJSONValue(t *testing.T, s *spec.Schema) any {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
