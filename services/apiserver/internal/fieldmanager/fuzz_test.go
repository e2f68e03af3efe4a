package fieldmanager

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"drover.dev/apiserver/internal/defaults"
	"drover.dev/apiserver/internal/registry"
)

// FuzzApply feeds arbitrary apply configurations to every kind of write:
// Apply must answer with the result or a client error (4xx), never panic,
// never blame the server for the client's bytes, and never touch live.
// With fixHeader, an input that decodes to an object gets the target's
// apiVersion, kind and name, so that random bodies reach the merge.
func FuzzApply(f *testing.F) {
	seeds := []string{
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"key":"b"}}`,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {a: b}\nbinaryData: {x: aGk=}\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"containerPort":80}]}]}}}}`,
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"replicas":1,"conditions":[{"type":"Available","status":"True"}]}}`,
		`{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":7}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80,"targetPort":"http"},{"port":53,"protocol":"UDP"}]}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"some-name","ownerReferences":[{"uid":"x","apiVersion":"v1","kind":"A","name":"a"}]},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"100m"}}}],"tolerations":[{"key":"k"}]}}`,
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"some-name","creationTimestamp":"2019-07-08T09:31:18Z"},"spec":{"activeDeadlineSeconds":1e300}}`,
		"---\n# comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n",
		`[]`, `null`, `{}`, `{"metadata":null}`, "\x00", "a: &a [*a]",
	}
	for i, s := range seeds {
		for target := range applyTargets {
			f.Add([]byte(s), uint8(target), i%2 == 0, i%3 == 0)
		}
	}
	schemas, err := testSchemas()
	if err != nil {
		f.Fatal(err)
	}
	m, err := New(registry.Builtin(), schemas, defaults.Default)
	if err != nil {
		f.Fatal(err)
	}
	lives := make([]runtime.Object, len(applyTargets))
	for i, tt := range applyTargets {
		lives[i] = tt.live(f, m)
	}
	f.Fuzz(func(t *testing.T, patch []byte, target uint8, create, fixHeader bool) {
		tt := applyTargets[int(target)%len(applyTargets)]
		var live runtime.Object
		if !create || tt.subresource != "" {
			live = lives[int(target)%len(applyTargets)].DeepCopyObject()
		}
		if fixHeader {
			patch = withHeader(patch, tt.gvk, tt.subresource)
		}
		before := jsonOf(t, live)
		out, err := m.Apply(tt.gvk, tt.subresource, live, patch, "fuzz", false)
		if got := jsonOf(t, live); !reflect.DeepEqual(got, before) {
			t.Fatalf("Apply changed live: %s", patch)
		}
		if err == nil {
			if out == nil {
				t.Fatalf("no object and no error for %q", patch)
			}
			return
		}
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			t.Fatalf("%T %v for %q", err, err, patch)
		}
		switch status.Status().Code {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("%v for %q", err, patch)
		}
	})
}

var applyTargets = []struct {
	gvk         schema.GroupVersionKind
	subresource string
	live        func(testing.TB, *Manager) runtime.Object
}{
	{configMapGVK, "", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, configMapGVK, "", newConfigMap(map[string]string{"key": "a"}))
	}},
	{deploymentGVK, "", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, deploymentGVK, "", newDeployment(1))
	}},
	{deploymentGVK, "status", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, deploymentGVK, "", newDeployment(1))
	}},
	{deploymentGVK, "scale", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, deploymentGVK, "", newDeployment(1))
	}},
	{serviceGVK, "", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, serviceGVK, "", newService())
	}},
	{podGVK, "", func(t testing.TB, m *Manager) runtime.Object {
		return mustUpdate(t, m, podGVK, "", testPod(t))
	}},
}

// withHeader sets apiVersion, kind and metadata.name of a patch that is an
// object, and returns other patches as they are.
func withHeader(patch []byte, gvk schema.GroupVersionKind, subresource string) []byte {
	var obj map[string]any
	if err := yaml.Unmarshal(patch, &obj); err != nil || obj == nil {
		return patch
	}
	if subresource == "scale" {
		gvk = scaleGVK
	}
	obj["apiVersion"], obj["kind"] = gvk.GroupVersion().String(), gvk.Kind
	md, _ := obj["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		obj["metadata"] = md
	}
	md["name"] = map[string]string{"ConfigMap": "cm", "Pod": "some-name"}[gvk.Kind]
	if md["name"] == "" {
		md["name"] = "web"
	}
	delete(md, "namespace")
	delete(md, "managedFields")
	out, err := json.Marshal(obj)
	if err != nil {
		return patch
	}
	return out
}

func mustUpdate(t testing.TB, m *Manager, gvk schema.GroupVersionKind, subresource string, obj runtime.Object) runtime.Object {
	t.Helper()
	out, err := m.Update(gvk, subresource, nil, obj, "creator")
	if err != nil {
		t.Fatal(err)
	}
	return stored(out)
}

func jsonOf(t *testing.T, obj runtime.Object) []byte {
	t.Helper()
	if obj == nil {
		return nil
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // Apply may set the kind
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
