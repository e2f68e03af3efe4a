package endpoints

import (
	"bytes"
	"context"
	"net/http/httptest"
	"regexp"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"drover.dev/apiserver/internal/registry"
)

// testRegistry is the resource table the server runs with.
var testRegistry = registry.Builtin()

func mustResource(tb testing.TB, gvr schema.GroupVersionResource) *registry.Resource {
	tb.Helper()
	res, ok := testRegistry.Lookup(gvr)
	if !ok {
		tb.Fatalf("no resource %v", gvr)
	}
	return res
}

// newTestRequest builds what ServeHTTP hands a handler for method and
// target, with an API that has no storage, cache, allocator or field
// manager: the code under test must not need them.
func newTestRequest(tb testing.TB, method, target, contentType string, body []byte) *request {
	tb.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	info, ok := parseRequestInfo(r)
	if !ok {
		tb.Fatalf("%s %s is not a resource request", method, target)
	}
	res := mustResource(tb, info.GroupVersion.WithResource(info.Resource))
	r = r.WithContext(context.WithValue(r.Context(), apiKey{}, New(Config{Registry: testRegistry})))
	return &request{
		w: httptest.NewRecorder(), r: r, ctx: r.Context(), info: info,
		res: res, storageRes: mustResource(tb, res.Storage),
	}
}

// statusCode is the HTTP code writeStatus would send for err: that of an
// API status, or 500 for anything else.
func statusCode(err error) int {
	if s, ok := err.(apierrors.APIStatus); ok {
		if c := int(s.Status().Code); c != 0 {
			return c
		}
	}
	return 500
}

// wantClientError fails unless err is an API status with a 4xx code.
func wantClientError(tb testing.TB, err error) {
	tb.Helper()
	if _, ok := err.(apierrors.APIStatus); !ok {
		tb.Fatalf("error %T %v is not an API status (it would be a 500)", err, err)
	}
	if c := statusCode(err); c < 400 || c >= 500 {
		tb.Fatalf("error %v has code %d, want 4xx", err, c)
	}
}

// hugeExponent matches quantities such as "1e-9999999", which apimachinery's
// Quantity takes seconds to parse: the decoder's cost, not ours, and it would
// only stall the fuzzer.
var hugeExponent = regexp.MustCompile(`[eE][-+]?0*[0-9]{4,}`)

func slowToDecode(data []byte) bool { return hugeExponent.Match(data) }
