package openapi

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"drover.dev/apiserver/internal/registry"
)

// kubernetesSpecDir is where `go mod download k8s.io/kubernetes@v1.37.2`
// puts the OpenAPI documents kube-apiserver v1.37.2 serves.
func kubernetesSpecDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "k8s.io", "kubernetes@v1.37.2", "api", "openapi-spec")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("k8s.io/kubernetes@v1.37.2 is not in the module cache (go mod download -json k8s.io/kubernetes@v1.37.2)")
	}
	return dir
}

func readJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMatchesKubernetesV3 compares every v3 document with the one
// kube-apiserver v1.37.2 publishes. Known, deliberate differences are
// normalised first: Kubernetes' snapshots are generated with OpenAPIEnums
// off (a live server has enums, as we do), it also accepts
// application/apply-patch+cbor, and reports its own version.
func TestMatchesKubernetesV3(t *testing.T) {
	dir := kubernetesSpecDir(t)
	s := newService(t)
	for key, doc := range s.v3 {
		t.Run(key, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "v3", strings.ReplaceAll(key, "/", "__")+"_openapi.json"))
			if err != nil {
				t.Fatal(err)
			}
			theirs := readJSON(t, b)
			plain, _ := doc.json.plain()
			ours := readJSON(t, plain)
			ours["info"] = theirs["info"]
			dropEnums(ours["components"].(map[string]any)["schemas"])
			dropPatchType(theirs["paths"], "application/apply-patch+cbor")
			// Kubernetes serves more resources in some group/versions
			// (pods/log, podtemplates, ...).
			onlyShared(ours["paths"], theirs["paths"])
			onlyShared(ours["components"].(map[string]any)["schemas"], theirs["components"].(map[string]any)["schemas"])
			reportDiffs(t, ours, theirs)
		})
	}
}

// TestMatchesKubernetesV2 compares /openapi/v2 with kube-apiserver's for the
// paths, parameters and definitions we serve; Kubernetes serves more groups,
// so its group/version/kind lists of shared types are longer.
func TestMatchesKubernetesV2(t *testing.T) {
	dir := kubernetesSpecDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "swagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	theirs := readJSON(t, b)
	plain, _ := newService(t).v2.json.plain()
	ours := readJSON(t, plain)
	ours["info"] = theirs["info"]
	dropEnums(ours["definitions"])
	dropPatchType(theirs["paths"], "application/apply-patch+cbor")

	served := map[string]bool{}
	for _, gv := range registry.Builtin().GroupVersions() {
		served[gv.Group+"/"+gv.Version] = true
	}
	for _, section := range []string{"paths", "parameters", "definitions"} {
		onlyShared(ours[section], theirs[section])
	}
	for _, d := range theirs["definitions"].(map[string]any) {
		d := d.(map[string]any)
		list, ok := d[extGVK].([]any)
		if !ok {
			continue
		}
		var kept []any
		for _, e := range list {
			m := e.(map[string]any)
			if served[m["group"].(string)+"/"+m["version"].(string)] {
				kept = append(kept, e)
			}
		}
		d[extGVK] = kept
	}
	reportDiffs(t, ours, theirs)
}

// onlyShared drops from theirs the keys ours does not have.
func onlyShared(ours, theirs any) {
	o, th := ours.(map[string]any), theirs.(map[string]any)
	for k := range th {
		if _, ok := o[k]; !ok {
			delete(th, k)
		}
	}
}

// dropEnums removes the enum values and their "Possible enum values" text
// from a set of schemas.
func dropEnums(v any) {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "enum")
		if d, ok := v["description"].(string); ok {
			if i := strings.Index(d, "Possible enum values:"); i >= 0 {
				if d = strings.TrimRight(d[:i], "\n"); d == "" {
					delete(v, "description")
				} else {
					v["description"] = d
				}
			}
		}
		for _, e := range v {
			dropEnums(e)
		}
	case []any:
		for _, e := range v {
			dropEnums(e)
		}
	}
}

// dropPatchType removes a content type from every PATCH operation.
func dropPatchType(paths any, ct string) {
	for _, item := range paths.(map[string]any) {
		patch, ok := item.(map[string]any)["patch"].(map[string]any)
		if !ok {
			continue
		}
		if rb, ok := patch["requestBody"].(map[string]any); ok {
			delete(rb["content"].(map[string]any), ct)
		}
		if cs, ok := patch["consumes"].([]any); ok {
			var kept []any
			for _, c := range cs {
				if c != ct {
					kept = append(kept, c)
				}
			}
			patch["consumes"] = kept
		}
	}
}

func reportDiffs(t *testing.T, ours, theirs any) {
	t.Helper()
	var diffs []string
	diffJSON("", ours, theirs, &diffs)
	sort.Strings(diffs)
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("... and %d more", len(diffs)-20)
			break
		}
		t.Error(d)
	}
}

func diffJSON(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, av := range am {
			p := path + "/" + strings.ReplaceAll(k, "/", "~1")
			if bv, ok := bm[k]; ok {
				diffJSON(p, av, bv, out)
			} else {
				*out = append(*out, "only ours: "+p)
			}
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				*out = append(*out, "only Kubernetes: "+path+"/"+strings.ReplaceAll(k, "/", "~1"))
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, fmt.Sprintf("%s: ours %.120v, Kubernetes %.120v", path, a, b))
	}
}
