package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/handler3"

	"drover.dev/apiserver/internal/registry"
)

const (
	v2ProtoAccept = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	v3ProtoAccept = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

func newService(t testing.TB) *Service {
	t.Helper()
	s := New(registry.Builtin(), "v1.37.2")
	if err := s.build(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServeHTTP(t *testing.T) {
	s := newService(t)
	apps := s.v3["apis/apps/v1"]
	appsURL := serverRelativeURL("apis/apps/v1", apps.etag)

	tests := []struct {
		name        string
		method      string
		target      string
		header      http.Header
		wantCode    int
		wantType    string
		wantHeaders map[string]string // "" means must be absent
		check       func(t *testing.T, body []byte)
	}{
		{
			name: "v2 json by default", target: "/openapi/v2",
			wantCode: 200, wantType: "application/json",
			check: func(t *testing.T, body []byte) {
				var doc struct{ Swagger string }
				if err := json.Unmarshal(body, &doc); err != nil || doc.Swagger != "2.0" {
					t.Errorf("swagger = %q, %v", doc.Swagger, err)
				}
			},
		},
		{
			name: "v2 protobuf as discovery asks", target: "/openapi/v2",
			header:   http.Header{"Accept": {v2ProtoAccept}},
			wantCode: 200, wantType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			check: func(t *testing.T, body []byte) {
				var doc openapi_v2.Document
				if err := proto.Unmarshal(body, &doc); err != nil || doc.Swagger != "2.0" {
					t.Errorf("proto: swagger %q, %v", doc.GetSwagger(), err)
				}
			},
		},
		{
			name: "v2 preference order", target: "/openapi/v2",
			header:   http.Header{"Accept": {"application/json;q=0.5, " + v2ProtoAccept}},
			wantCode: 200, wantType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
		},
		{
			name: "v2 unacceptable", target: "/openapi/v2",
			header:   http.Header{"Accept": {"text/html"}},
			wantCode: http.StatusNotAcceptable,
		},
		{
			name: "v2 not modified", target: "/openapi/v2",
			header:   http.Header{"If-None-Match": {`"` + s.v2.etag + `"`}},
			wantCode: http.StatusNotModified,
		},
		{
			name: "v3 discovery", target: "/openapi/v3",
			wantCode: 200, wantType: "application/json",
			check: func(t *testing.T, body []byte) {
				var d handler3.OpenAPIV3Discovery
				if err := json.Unmarshal(body, &d); err != nil {
					t.Fatal(err)
				}
				if got := d.Paths["apis/apps/v1"].ServerRelativeURL; got != appsURL {
					t.Errorf("apis/apps/v1 url = %q, want %q", got, appsURL)
				}
			},
		},
		{
			name: "v3 group version with current hash is immutable", target: appsURL,
			wantCode: 200, wantType: "application/json",
			wantHeaders: map[string]string{"Cache-Control": "public, immutable", "Etag": `"` + apps.etag + `"`},
		},
		{
			name: "v3 group version without hash", target: "/openapi/v3/apis/apps/v1",
			wantCode: 200, wantType: "application/json",
			wantHeaders: map[string]string{"Cache-Control": ""},
		},
		{
			name: "v3 stale hash redirects", target: "/openapi/v3/apis/apps/v1?hash=0123",
			wantCode:    http.StatusMovedPermanently,
			wantHeaders: map[string]string{"Location": appsURL},
		},
		{
			name: "v3 protobuf", target: appsURL,
			header:   http.Header{"Accept": {v3ProtoAccept}},
			wantCode: 200, wantType: "application/com.github.proto-openapi.spec.v3.v1.0+protobuf",
		},
		{
			name: "v3 core", target: "/openapi/v3/api/v1",
			wantCode: 200, wantType: "application/json",
		},
		{
			name: "v3 unknown group version", target: "/openapi/v3/apis/example.com/v1",
			wantCode: http.StatusNotFound,
		},
		{
			name: "unknown path", target: "/openapi/v4",
			wantCode: http.StatusNotFound,
		},
		{
			name: "method not allowed", method: http.MethodPost, target: "/openapi/v2",
			wantCode: http.StatusMethodNotAllowed,
		},
		{
			name: "head", method: http.MethodHead, target: "/openapi/v2",
			wantCode: 200, wantType: "application/json",
			check: func(t *testing.T, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD returned %d bytes", len(body))
				}
			},
		},
		{
			name: "gzip", target: "/openapi/v2",
			header:   http.Header{"Accept-Encoding": {"gzip"}},
			wantCode: 200, wantType: "application/json",
			wantHeaders: map[string]string{"Content-Encoding": "gzip"},
			check: func(t *testing.T, body []byte) {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := s.v2.json.plain()
				if !bytes.Equal(plain, want) {
					t.Error("gunzipped body differs from the JSON document")
				}
			},
		},
		{
			name: "gzip refused", target: "/openapi/v2",
			header:   http.Header{"Accept-Encoding": {"gzip;q=0"}},
			wantCode: 200, wantType: "application/json",
			wantHeaders: map[string]string{"Content-Encoding": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tt.target, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.wantCode, rec.Body.String())
			}
			if tt.wantType != "" {
				if got := rec.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
			}
			for k, want := range tt.wantHeaders {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, rec.Body.Bytes())
			}
		})
	}
}

// TestReferencesResolve checks that every $ref in every document points at
// a definition or parameter the same document has.
func TestReferencesResolve(t *testing.T) {
	s := newService(t)
	check := func(t *testing.T, d *servedDoc) {
		t.Helper()
		body, _ := d.json.plain()
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"].(string); ok {
					parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
					var cur any = doc
					for _, p := range parts {
						m, _ := cur.(map[string]any)
						cur = m[p]
					}
					if cur == nil {
						t.Errorf("dangling %s", ref)
					}
				}
				for _, e := range v {
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(doc)
	}
	t.Run("v2", func(t *testing.T) { check(t, s.v2) })
	for key, d := range s.v3 {
		t.Run(key, func(t *testing.T) { check(t, d) })
	}
}

// TestDefinitionNames checks the names derived from package paths against
// the OpenAPIModelName methods the k8s.io types carry.
func TestDefinitionNames(t *testing.T) {
	docs, err := buildDocuments(registry.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	markers, err := parseMarkers(markersText)
	if err != nil {
		t.Fatal(err)
	}
	defs := newSchemaSet(v2, servedKinds(registry.Builtin()), markers)
	buildSwagger("test", docs, defs)
	if len(defs.types) < 100 {
		t.Fatalf("only %d definitions", len(defs.types))
	}
	for name, typ := range defs.types {
		if m, ok := reflect.New(typ).Interface().(interface{ OpenAPIModelName() string }); ok && m.OpenAPIModelName() != name {
			t.Errorf("%v named %q, its OpenAPIModelName is %q", typ, name, m.OpenAPIModelName())
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := newService(t), newService(t)
	if a.v2.etag != b.v2.etag || a.root.etag != b.root.etag {
		t.Fatal("two builds of the same registry differ")
	}
}

func TestOperations(t *testing.T) {
	s := newService(t)
	body, _ := s.v3["apis/apps/v1"].json.plain()
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	type op struct {
		OperationID string         `json:"operationId"`
		Action      string         `json:"x-kubernetes-action"`
		GVK         map[string]any `json:"x-kubernetes-group-version-kind"`
	}
	tests := []struct {
		path, method, wantID, wantAction, wantKind string
	}{
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "get", "listAppsV1NamespacedDeployment", "list", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "post", "createAppsV1NamespacedDeployment", "post", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "delete", "deleteAppsV1CollectionNamespacedDeployment", "deletecollection", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "get", "readAppsV1NamespacedDeployment", "get", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "put", "replaceAppsV1NamespacedDeployment", "put", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch", "patchAppsV1NamespacedDeployment", "patch", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "delete", "deleteAppsV1NamespacedDeployment", "delete", "Deployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch", "patchAppsV1NamespacedDeploymentScale", "patch", "Scale"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "put", "replaceAppsV1NamespacedDeploymentStatus", "put", "Deployment"},
		{"/apis/apps/v1/deployments", "get", "listAppsV1DeploymentForAllNamespaces", "list", "Deployment"},
		{"/apis/apps/v1/watch/deployments", "get", "watchAppsV1DeploymentListForAllNamespaces", "watchlist", "Deployment"},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments", "get", "watchAppsV1NamespacedDeploymentList", "watchlist", "Deployment"},
		{"/apis/apps/v1/watch/namespaces/{namespace}/deployments/{name}", "get", "watchAppsV1NamespacedDeployment", "watch", "Deployment"},
		{"/apis/apps/v1/", "get", "getAppsV1APIResources", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.wantID, func(t *testing.T) {
			raw, ok := doc.Paths[tt.path][tt.method]
			if !ok {
				t.Fatalf("no %s %s", tt.method, tt.path)
			}
			var o op
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			kind, _ := o.GVK["kind"].(string)
			if o.OperationID != tt.wantID || o.Action != tt.wantAction || kind != tt.wantKind {
				t.Errorf("got %s %s %s, want %s %s %s", o.OperationID, o.Action, kind, tt.wantID, tt.wantAction, tt.wantKind)
			}
		})
	}
}

// TestMarkersUpToDate regenerates markers.txt from the k8s.io sources in
// the module cache and compares.
func TestMarkersUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out := filepath.Join(t.TempDir(), "markers.txt")
	cmd := exec.Command("go", "run", "gen_markers.go", "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_markers: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != markersText {
		t.Error("markers.txt is stale; run go generate ./internal/openapi/")
	}
}

// TestSizes logs the size of each form of the documents, the time to
// build them and the heap the service retains.
func TestSizes(t *testing.T) {
	newService(t) // one-time costs: type caches of encoding/json, the scheme, ...
	heap := func() int64 {
		// Twice: sync.Pool keeps its objects through one collection.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	before := heap()
	start := time.Now()
	s := newService(t)
	took := time.Since(start)
	t.Logf("build all documents: %v; heap retained: %.2f MiB", took.Round(time.Millisecond), mib(heap()-before))

	form := func(name string, e *encoded) {
		t.Helper()
		t.Logf("%-24s %8d bytes, stored gzipped in %7d", name, e.size, len(e.gz))
	}
	protoForm := func(name string, d *servedDoc) {
		t.Helper()
		start := time.Now()
		p, err := d.protoForm()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-24s %8d bytes, stored gzipped in %7d, built on demand in %v", name, p.size, len(p.gz), time.Since(start).Round(time.Millisecond))
	}
	form("v2 json", s.v2.json)
	protoForm("v2 protobuf", s.v2)
	total, totalGz := 0, 0
	for _, d := range s.v3 {
		total += d.json.size
		totalGz += len(d.json.gz)
	}
	t.Logf("v3 json, %d documents: %d bytes, stored gzipped in %d", len(s.v3), total, totalGz)
	for _, key := range []string{"api/v1", "apis/apps/v1"} {
		form("v3 json "+key, s.v3[key].json)
		protoForm("v3 protobuf "+key, s.v3[key])
	}
	t.Logf("heap retained after building those protobuf forms: %.2f MiB", mib(heap()-before))
	runtime.KeepAlive(s)
}

func BenchmarkGenerate(b *testing.B) {
	reg := registry.Builtin()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := New(reg, "v1.37.2").generate(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentFirstRequests hits a fresh service from many goroutines so
// the lazy build and the lazy protobuf forms race (run with -race).
func TestConcurrentFirstRequests(t *testing.T) {
	s := New(registry.Builtin(), "v1.37.2")
	targets := []struct{ path, accept string }{
		{"/openapi/v2", v2ProtoAccept},
		{"/openapi/v2", "application/json"},
		{"/openapi/v3", ""},
		{"/openapi/v3/apis/apps/v1", v3ProtoAccept},
		{"/openapi/v3/api/v1", ""},
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		tg := targets[i%len(targets)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, tg.path, nil)
			req.Header.Set("Accept", tg.accept)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("%s: %d", tg.path, rec.Code)
			}
		}()
	}
	wg.Wait()
}
