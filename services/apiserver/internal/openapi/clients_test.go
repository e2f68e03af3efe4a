package openapi

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	kubeproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/utils/ptr"

	"drover.dev/apiserver/internal/registry"
)

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	configMapGVK  = corev1.SchemeGroupVersion.WithKind("ConfigMap")
)

// startServer serves a Service for the built-in registry and returns a
// discovery client pointed at it, as kubectl builds one.
func startServer(t *testing.T) *discovery.DiscoveryClient {
	t.Helper()
	srv := httptest.NewServer(New(registry.Builtin(), "v1.37.2"))
	t.Cleanup(srv.Close)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// gvkList reads an x-kubernetes-group-version-kind list however the parser
// at hand decoded it (JSON or YAML maps).
func gvkList(ext any) []schema.GroupVersionKind {
	list, _ := ext.([]any)
	var out []schema.GroupVersionKind
	for _, e := range list {
		get := func(k string) string {
			switch m := e.(type) {
			case map[string]any:
				s, _ := m[k].(string)
				return s
			case map[any]any:
				s, _ := m[k].(string)
				return s
			}
			return ""
		}
		out = append(out, schema.GroupVersionKind{Group: get("group"), Version: get("version"), Kind: get("kind")})
	}
	return out
}

// TestV2ProtobufThroughDiscovery follows kubectl's OpenAPI v2 path:
// discovery's OpenAPISchema asks for protobuf and proto-decodes it,
// kube-openapi's proto package models it, the schema is found by GVK and
// strategic merge patch metadata is read from it.
func TestV2ProtobufThroughDiscovery(t *testing.T) {
	dc := startServer(t)
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	models, err := kubeproto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	byGVK := map[schema.GroupVersionKind]kubeproto.Schema{}
	for _, name := range models.ListModels() {
		m := models.LookupModel(name)
		for _, gvk := range gvkList(m.GetExtensions()["x-kubernetes-group-version-kind"]) {
			byGVK[gvk] = m
		}
	}
	for _, res := range registry.Builtin().Resources() {
		if byGVK[res.GVK()] == nil {
			t.Errorf("no v2 model for %v", res.GVK())
		}
	}

	deployment := byGVK[deploymentGVK]
	if deployment == nil {
		t.Fatal("no model for apps/v1 Deployment")
	}
	var meta strategicpatch.LookupPatchMeta = strategicpatch.NewPatchMetaFromOpenAPI(deployment)
	for _, field := range []string{"spec", "template", "spec"} {
		if meta, _, err = meta.LookupPatchMetadataForStruct(field); err != nil {
			t.Fatalf("lookup %s: %v", field, err)
		}
	}
	_, pm, err := meta.LookupPatchMetadataForSlice("containers")
	if err != nil {
		t.Fatalf("lookup containers: %v", err)
	}
	if pm.GetPatchMergeKey() != "name" || !contains(pm.GetPatchStrategies(), "merge") {
		t.Errorf("containers patch meta = key %q strategies %v, want key name, merge", pm.GetPatchMergeKey(), pm.GetPatchStrategies())
	}
}

// TestV3ThroughClientGo reads the apps/v1 document the way kubectl explain
// and apply do (client-go openapi + openapi3) and finds Deployment by GVK,
// in JSON and in protobuf.
func TestV3ThroughClientGo(t *testing.T) {
	dc := startServer(t)
	client := dc.OpenAPIV3()
	paths, err := client.Paths()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1", "version"} {
		gv, ok := paths[want]
		if !ok {
			t.Errorf("/openapi/v3 lacks %q", want)
			continue
		}
		if !strings.Contains(gv.ServerRelativeURL(), "?hash=") {
			t.Errorf("%s: url %q has no hash", want, gv.ServerRelativeURL())
		}
	}

	root := openapi3.NewRoot(client)
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(gvs) != len(registry.Builtin().GroupVersions()) {
		t.Errorf("GroupVersions = %v, want the %d served", gvs, len(registry.Builtin().GroupVersions()))
	}
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	name, s := schemaForGVK(doc, deploymentGVK)
	if s == nil {
		t.Fatal("no apps/v1 Deployment schema")
	}
	if name != "io.k8s.api.apps.v1.Deployment" {
		t.Errorf("Deployment schema named %q", name)
	}
	if got := s.Properties["spec"].AllOf; len(got) != 1 || got[0].Ref.String() != "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" {
		t.Errorf("spec = %+v, want allOf ref to DeploymentSpec", s.Properties["spec"])
	}

	pb, err := paths["apis/apps/v1"].Schema(openapi.ContentTypeOpenAPIV3PB)
	if err != nil {
		t.Fatal(err)
	}
	var pdoc openapi_v3.Document
	if err := proto.Unmarshal(pb, &pdoc); err != nil {
		t.Fatalf("protobuf v3: %v", err)
	}
	models, err := kubeproto.NewOpenAPIV3Data(&pdoc)
	if err != nil {
		t.Fatalf("NewOpenAPIV3Data: %v", err)
	}
	if models.LookupModel("io.k8s.api.apps.v1.Deployment") == nil {
		t.Error("protobuf v3 lacks Deployment")
	}
}

func schemaForGVK(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) (string, *spec.Schema) {
	for name, s := range doc.Components.Schemas {
		for _, g := range gvkList(s.Extensions[extGVK]) {
			if g == gvk {
				return name, s
			}
		}
	}
	return "", nil
}

// supportsQueryParamV3 reproduces k8s.io/cli-runtime's
// queryParamVerifierV3.HasSupport (cli-runtime is not a dependency of this
// module): take the first PATCH operation whose
// x-kubernetes-group-version-kind is the kind and look for the parameter
// among that operation's own parameters (or #/parameters refs).
func supportsQueryParamV3(doc *spec3.OpenAPI, gvk schema.GroupVersionKind, param string) error {
	if doc == nil || doc.Paths == nil {
		return fmt.Errorf("invalid OpenAPI V3 document")
	}
	for _, path := range doc.Paths.Paths {
		if path == nil || path.Patch == nil {
			continue
		}
		op := path.Patch
		var opGVK map[string]string
		if err := op.Extensions.GetObject("x-kubernetes-group-version-kind", &opGVK); err != nil {
			continue
		}
		if opGVK["group"] != gvk.Group || opGVK["version"] != gvk.Version || opGVK["kind"] != gvk.Kind {
			continue
		}
		for _, p := range op.Parameters {
			if p.Name == param && p.In == "query" {
				return nil
			}
			if ref := p.Ref.String(); strings.HasPrefix(ref, "#/parameters/") && doc.Components != nil {
				if g, ok := doc.Components.Parameters[strings.TrimPrefix(ref, "#/parameters/")]; ok && g != nil && g.In == "query" && g.Name == param {
					return nil
				}
			}
		}
		return fmt.Errorf("%v does not support %s", gvk, param)
	}
	return fmt.Errorf("path not found for GVK (%s) in OpenAPI V3 doc", gvk)
}

// TestQueryParamVerifierV3 checks what kubectl checks before sending
// fieldValidation=Strict or dryRun=All: every patchable kind supports both.
func TestQueryParamVerifierV3(t *testing.T) {
	root := openapi3.NewRoot(startServer(t).OpenAPIV3())
	tests := []struct {
		name  string
		gvk   schema.GroupVersionKind
		param string
	}{
		{"deployment fieldValidation", deploymentGVK, "fieldValidation"},
		{"configmap fieldValidation", configMapGVK, "fieldValidation"},
		{"deployment dryRun", deploymentGVK, "dryRun"},
		{"configmap dryRun", configMapGVK, "dryRun"},
	}
	for _, res := range registry.Builtin().Resources() {
		if contains(res.Verbs, "patch") {
			tests = append(tests, struct {
				name  string
				gvk   schema.GroupVersionKind
				param string
			}{res.GroupVersionResource.String() + " fieldValidation", res.GVK(), "fieldValidation"})
		}
	}
	docs := map[schema.GroupVersion]*spec3.OpenAPI{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, ok := docs[tt.gvk.GroupVersion()]
			if !ok {
				var err error
				if doc, err = root.GVSpec(tt.gvk.GroupVersion()); err != nil {
					t.Fatal(err)
				}
				docs[tt.gvk.GroupVersion()] = doc
			}
			// The verifier stops at whichever matching PATCH it meets first
			// in map order; repeat so every order gets a chance to fail.
			for i := 0; i < 20; i++ {
				if err := supportsQueryParamV3(doc, tt.gvk, tt.param); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestApplyPatchFromV3 follows kubectl apply's client-side path: the PATCH
// operation must accept strategic merge patch, and the three-way patch
// built from the v3 schema must merge containers by name.
func TestApplyPatchFromV3(t *testing.T) {
	root := openapi3.NewRoot(startServer(t).OpenAPIV3())
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	supportsSMP := false
	for _, p := range doc.Paths.Paths {
		if p.Patch == nil || p.Patch.RequestBody == nil {
			continue
		}
		var g map[string]string
		if p.Patch.Extensions.GetObject("x-kubernetes-group-version-kind", &g) == nil && g["kind"] == "Deployment" {
			_, supportsSMP = p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]
		}
	}
	if !supportsSMP {
		t.Fatal("Deployment PATCH does not accept application/strategic-merge-patch+json")
	}

	_, s := schemaForGVK(doc, deploymentGVK)
	meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: s, SchemaList: doc.Components.Schemas}
	deployment := func(images ...string) []byte {
		d := appsv1.Deployment{}
		d.APIVersion, d.Kind, d.Name = "apps/v1", "Deployment", "web"
		for i, img := range images {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
		}
		b, _ := json.Marshal(d)
		return b
	}
	original := deployment("nginx:1", "sidecar:1")
	modified := deployment("nginx:2", "sidecar:1")
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, original, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c0"},{"name":"c1"}],"containers":[{"image":"nginx:2","name":"c0"}]}}}}`
	if string(patch) != want {
		t.Errorf("patch = %s\nwant    %s", patch, want)
	}
}

// TestExplainDescriptions checks what kubectl explain prints for
// deployment.spec: every field documented, required fields marked.
func TestExplainDescriptions(t *testing.T) {
	root := openapi3.NewRoot(startServer(t).OpenAPIV3())
	doc, err := root.GVSpecAsMap(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	spec := schemas["io.k8s.api.apps.v1.DeploymentSpec"].(map[string]any)
	if d, _ := spec["description"].(string); !strings.HasPrefix(d, "DeploymentSpec is the specification") {
		t.Errorf("DeploymentSpec description = %q", d)
	}
	props := spec["properties"].(map[string]any)
	for _, field := range []string{"replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds"} {
		p, ok := props[field].(map[string]any)
		if !ok {
			t.Errorf("DeploymentSpec lacks %s", field)
			continue
		}
		if d, _ := p["description"].(string); d == "" {
			t.Errorf("DeploymentSpec.%s has no description", field)
		}
	}
	if got := fmt.Sprint(spec["required"]); got != "[selector template]" {
		t.Errorf("DeploymentSpec required = %s, want [selector template]", got)
	}
	strategy := props["strategy"].(map[string]any)
	if strategy["x-kubernetes-patch-strategy"] != "retainKeys" {
		t.Errorf("strategy patch strategy = %v", strategy["x-kubernetes-patch-strategy"])
	}
}

// TestTypeConverter builds the structured-merge-diff type converter server-
// side apply uses from a v3 document and converts a Deployment with it.
func TestTypeConverter(t *testing.T) {
	root := openapi3.NewRoot(startServer(t).OpenAPIV3())
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := managedfields.NewTypeConverter(doc.Components.Schemas, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}}
	d.APIVersion, d.Kind, d.Name = "apps/v1", "Deployment", "web"
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ObjectToTyped(&unstructured.Unstructured{Object: u}); err != nil {
		t.Fatalf("ObjectToTyped: %v", err)
	}
}
