package endpoints

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const podPath = "/api/v1/namespaces/default/pods/web"

// patchTarget is the stored pod patches apply to.
func patchTarget() *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "default", ResourceVersion: "7", UID: "u-1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"a": "1"},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "nginx:1", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
				{Name: "sidecar", Image: "envoy:1"},
			},
			Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		},
	}
}

func TestPatchType(t *testing.T) {
	tests := []struct {
		contentType string
		query       string
		want        types.PatchType
		wantCode    int
	}{
		{"application/json-patch+json", "", types.JSONPatchType, 0},
		{"application/merge-patch+json", "", types.MergePatchType, 0},
		{"application/strategic-merge-patch+json", "", types.StrategicMergePatchType, 0},
		{"application/merge-patch+json; charset=utf-8", "", types.MergePatchType, 0},
		// Without a field manager there is no server-side apply.
		{"application/apply-patch+yaml", "", "", 415},
		{"application/apply-patch+cbor", "", "", 415},
		{"application/json", "", "", 415},
		{"", "", "", 415},
		// force belongs to apply patches only.
		{"application/merge-patch+json", "?force=true", "", 422},
		{"application/json-patch+json", "?force=false", "", 422},
	}
	for _, tt := range tests {
		q := newTestRequest(t, "PATCH", podPath+tt.query, tt.contentType, nil)
		got, err := patchType(q)
		if tt.wantCode != 0 {
			if err == nil {
				t.Errorf("patchType(%q%s) = %q, want a %d", tt.contentType, tt.query, got, tt.wantCode)
				continue
			}
			wantClientError(t, err)
			if c := statusCode(err); c != tt.wantCode {
				t.Errorf("patchType(%q%s) code %d, want %d", tt.contentType, tt.query, c, tt.wantCode)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("patchType(%q%s) = %q, %v; want %q", tt.contentType, tt.query, got, err, tt.want)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name     string
		pt       types.PatchType
		query    string
		patch    string
		wantCode int
		check    func(t *testing.T, p *corev1.Pod)
	}{
		{
			name: "json patch replace", pt: types.JSONPatchType,
			patch: `[{"op":"replace","path":"/metadata/labels/app","value":"api"},{"op":"add","path":"/spec/nodeName","value":"n1"}]`,
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Labels["app"] != "api" || p.Spec.NodeName != "n1" || p.Labels["tier"] != "front" {
					t.Errorf("labels %v node %q", p.Labels, p.Spec.NodeName)
				}
			},
		},
		{
			name: "json patch remove", pt: types.JSONPatchType,
			patch: `[{"op":"remove","path":"/spec/containers/1"}]`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Name != "app" {
					t.Errorf("containers = %+v", p.Spec.Containers)
				}
			},
		},
		{
			name: "json patch test passes", pt: types.JSONPatchType,
			patch: `[{"op":"test","path":"/metadata/resourceVersion","value":"7"},{"op":"replace","path":"/spec/containers/0/image","value":"nginx:2"}]`,
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Spec.Containers[0].Image != "nginx:2" {
					t.Errorf("image = %s", p.Spec.Containers[0].Image)
				}
			},
		},
		{name: "json patch test fails", pt: types.JSONPatchType, patch: `[{"op":"test","path":"/metadata/resourceVersion","value":"6"}]`, wantCode: 422},
		{name: "json patch missing path", pt: types.JSONPatchType, patch: `[{"op":"replace","path":"/spec/nope/x","value":1}]`, wantCode: 422},
		{name: "json patch not a list", pt: types.JSONPatchType, patch: `{"op":"add"}`, wantCode: 400},
		{name: "json patch not JSON", pt: types.JSONPatchType, patch: `[{`, wantCode: 400},
		{name: "json patch unknown op", pt: types.JSONPatchType, patch: `[{"op":"frobnicate","path":"/x"}]`, wantCode: 422},
		{name: "json patch too many operations", pt: types.JSONPatchType,
			patch: "[" + strings.TrimSuffix(strings.Repeat(`{"op":"test","path":"/kind","value":"Pod"},`, maxJSONPatchOperations+1), ",") + "]", wantCode: 413},
		{name: "json patch wrong type", pt: types.JSONPatchType, patch: `[{"op":"replace","path":"/spec/containers","value":"x"}]`, wantCode: 400},
		{
			name: "merge patch", pt: types.MergePatchType,
			patch: `{"metadata":{"labels":{"tier":null,"new":"x"}},"spec":{"nodeName":"n2"}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if _, ok := p.Labels["tier"]; ok || p.Labels["new"] != "x" || p.Labels["app"] != "web" || p.Spec.NodeName != "n2" {
					t.Errorf("labels %v node %q", p.Labels, p.Spec.NodeName)
				}
			},
		},
		{
			name: "merge patch replaces lists", pt: types.MergePatchType,
			patch: `{"spec":{"containers":[{"name":"only","image":"busybox"}]}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Name != "only" {
					t.Errorf("containers = %+v", p.Spec.Containers)
				}
			},
		},
		{
			name: "merge patch null removes a field", pt: types.MergePatchType,
			patch: `{"metadata":{"annotations":null}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Annotations != nil {
					t.Errorf("annotations = %v", p.Annotations)
				}
			},
		},
		{name: "merge patch not JSON", pt: types.MergePatchType, patch: `{"metadata":`, wantCode: 400},
		{name: "merge patch wrong type", pt: types.MergePatchType, patch: `{"spec":{"containers":"x"}}`, wantCode: 400},
		{name: "merge patch unknown field strict", pt: types.MergePatchType, query: "?fieldValidation=Strict", patch: `{"spec":{"bogus":1}}`, wantCode: 400},
		{
			name: "strategic merge by name", pt: types.StrategicMergePatchType,
			patch: `{"spec":{"containers":[{"name":"app","image":"nginx:3"}]}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Containers) != 2 || p.Spec.Containers[0].Image != "nginx:3" || p.Spec.Containers[1].Name != "sidecar" ||
					len(p.Spec.Containers[0].Env) != 1 {
					t.Errorf("containers = %+v", p.Spec.Containers)
				}
			},
		},
		{
			name: "strategic delete directive", pt: types.StrategicMergePatchType,
			patch: `{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Name != "app" {
					t.Errorf("containers = %+v", p.Spec.Containers)
				}
			},
		},
		{
			name: "strategic replace directive", pt: types.StrategicMergePatchType,
			patch: `{"metadata":{"labels":{"$patch":"replace","only":"this"}}}`,
			check: func(t *testing.T, p *corev1.Pod) {
				if len(p.Labels) != 1 || p.Labels["only"] != "this" {
					t.Errorf("labels = %v", p.Labels)
				}
			},
		},
		{name: "strategic not JSON", pt: types.StrategicMergePatchType, patch: `{`, wantCode: 400},
		{name: "strategic not an object", pt: types.StrategicMergePatchType, patch: `[1]`, wantCode: 400},
		{name: "strategic bad directive", pt: types.StrategicMergePatchType, patch: `{"spec":{"containers":[{"name":"app","$patch":"explode"}]}}`, wantCode: 422},
		{name: "strategic wrong type", pt: types.StrategicMergePatchType, patch: `{"spec":{"containers":"x"}}`, wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newTestRequest(t, "PATCH", podPath+tt.query, string(tt.pt), nil)
			cur := patchTarget()
			before := cur.DeepCopy()
			out, err := applyPatch(q, tt.pt, []byte(tt.patch), cur, "Pod")
			if tt.wantCode != 0 {
				if err == nil {
					t.Fatalf("patch applied, want a %d", tt.wantCode)
				}
				wantClientError(t, err)
				if c := statusCode(err); c != tt.wantCode {
					t.Fatalf("code %d (%v), want %d", c, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("applyPatch: %v", err)
			}
			p, ok := out.(*corev1.Pod)
			if !ok {
				t.Fatalf("result is %T", out)
			}
			if p.APIVersion != "v1" || p.Kind != "Pod" || p.Name != "web" || p.ResourceVersion != "7" {
				t.Errorf("result identity %s %s %s rv %s", p.APIVersion, p.Kind, p.Name, p.ResourceVersion)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
			if !reflect.DeepEqual(cur, before) {
				t.Error("applyPatch modified the current object")
			}
		})
	}
}

// TestApplyPatchBoundsCopies: each JSON patch "copy" of a container into
// itself doubles the document, so forty operations in a body of a few
// kilobytes would ask for terabytes. Kubernetes caps the bytes copies may add
// (JSONPatchMaxCopyBytes, 3 MiB) and answers with an error; here eight doublings
// of a 64 KiB annotation stand in for the attack.
func TestApplyPatchBoundsCopies(t *testing.T) {
	cur := patchTarget()
	cur.Annotations = map[string]string{"a": strings.Repeat("x", 64<<10)}
	var ops []string
	for i := range 8 {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/metadata/annotations","path":"/metadata/annotations/c%d"}`, i))
	}
	patch := []byte("[" + strings.Join(ops, ",") + "]")
	q := newTestRequest(t, "PATCH", podPath, string(types.JSONPatchType), nil)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := applyPatch(q, types.JSONPatchType, patch, cur, "Pod")
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a 16 MiB patch result was accepted")
	}
	wantClientError(t, err)
	// Unbounded, the copies alone add 16 MiB (and cost over 200 MiB of
	// allocations); a cap like Kubernetes' stops them near 3 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("applying the patch allocated %d MiB before refusing it (body %d bytes)", alloc>>20, len(patch))
	}
}

// TestApplyPatchWholeDocumentWithoutValue: a JSON patch "test" or "replace"
// of the whole document (path "") without a value is malformed: a 4xx, not a
// panic.
func TestApplyPatchWholeDocumentWithoutValue(t *testing.T) {
	for _, patch := range []string{
		`[{"op":"test","path":""}]`,
		`[{"op":"replace","path":""}]`,
		`[{"op":"replace","path":"","from":"/spec"}]`,
	} {
		t.Run(patch, func(t *testing.T) {
			q := newTestRequest(t, "PATCH", podPath, string(types.JSONPatchType), nil)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("applyPatch panicked: %v", p)
					}
				}()
				_, err = applyPatch(q, types.JSONPatchType, []byte(patch), patchTarget(), "Pod")
			}()
			if err == nil {
				t.Fatal("the patch applied")
			}
			wantClientError(t, err)
		})
	}
}

// FuzzApplyPatch: any JSON, merge or strategic merge patch over a valid pod
// gives a pod or a 4xx API status; never a panic and never a 500.
func FuzzApplyPatch(f *testing.F) {
	seeds := []struct {
		pt    uint8
		patch string
	}{
		{0, `[{"op":"replace","path":"/metadata/labels/app","value":"api"},{"op":"remove","path":"/spec/containers/1"}]`},
		{0, `[{"op":"move","from":"/spec/containers/0","path":"/spec/initContainers"},{"op":"test","path":"/kind","value":"Pod"}]`},
		{0, `[{"op":"copy","from":"/spec/containers/0","path":"/spec/containers/-"}]`},
		{1, `{"metadata":{"labels":{"tier":null}},"spec":{"nodeName":"n2","containers":[{"name":"x"}]}}`},
		{1, `null`},
		{2, `{"spec":{"containers":[{"name":"app","image":"nginx:3"},{"name":"sidecar","$patch":"delete"}]}}`},
		{2, `{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}],"spec":{"$retainKeys":["containers"]}}`},
		{2, `{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"labels":{"$patch":"replace"}}}`},
	}
	for _, s := range seeds {
		f.Add(s.pt, []byte(s.patch))
	}
	patchTypes := []types.PatchType{types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType}
	f.Fuzz(func(t *testing.T, pt uint8, patch []byte) {
		if slowToDecode(patch) {
			return
		}
		typ := patchTypes[int(pt)%len(patchTypes)]
		q := newTestRequest(t, "PATCH", podPath, string(typ), nil)
		cur := patchTarget()
		out, err := applyPatch(q, typ, patch, cur, "Pod")
		if err != nil {
			wantClientError(t, err)
			return
		}
		p, ok := out.(*corev1.Pod)
		if !ok {
			t.Fatalf("result is %T", out)
		}
		if p.APIVersion != "v1" || p.Kind != "Pod" {
			t.Fatalf("result has kind %s %s", p.APIVersion, p.Kind)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("patched pod does not encode: %v", err)
		}
	})
}
