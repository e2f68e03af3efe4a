package endpoints

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestParseRequestInfo(t *testing.T) {
	core := func(ns, resource, name, sub, verb string) requestInfo {
		return requestInfo{GroupVersion: schema.GroupVersion{Version: "v1"}, Namespace: ns, Resource: resource, Name: name, Subresource: sub, Verb: verb}
	}
	apps := func(ns, resource, name, sub, verb string) requestInfo {
		return requestInfo{GroupVersion: schema.GroupVersion{Group: "apps", Version: "v1"}, Namespace: ns, Resource: resource, Name: name, Subresource: sub, Verb: verb}
	}
	tests := []struct {
		name   string
		method string
		target string
		want   requestInfo
		wantOK bool
	}{
		// core, namespaced
		{"list in a namespace", "GET", "/api/v1/namespaces/default/pods", core("default", "pods", "", "", "list"), true},
		{"list everywhere", "GET", "/api/v1/pods", core("", "pods", "", "", "list"), true},
		{"get", "GET", "/api/v1/namespaces/default/pods/web", core("default", "pods", "web", "", "get"), true},
		{"head is a read", "HEAD", "/api/v1/namespaces/default/pods/web", core("default", "pods", "web", "", "get"), true},
		{"trailing slash", "GET", "/api/v1/namespaces/default/pods/", core("default", "pods", "", "", "list"), true},
		{"create", "POST", "/api/v1/namespaces/default/pods", core("default", "pods", "", "", "create"), true},
		{"update", "PUT", "/api/v1/namespaces/default/pods/web", core("default", "pods", "web", "", "update"), true},
		{"patch", "PATCH", "/api/v1/namespaces/default/pods/web", core("default", "pods", "web", "", "patch"), true},
		{"delete", "DELETE", "/api/v1/namespaces/default/pods/web", core("default", "pods", "web", "", "delete"), true},
		{"deletecollection", "DELETE", "/api/v1/namespaces/default/pods", core("default", "pods", "", "", "deletecollection"), true},
		{"unknown method", "OPTIONS", "/api/v1/namespaces/default/pods", core("default", "pods", "", "", "options"), true},

		// subresources
		{"get status", "GET", "/api/v1/namespaces/default/pods/web/status", core("default", "pods", "web", "status", "get"), true},
		{"update status", "PUT", "/api/v1/namespaces/default/pods/web/status", core("default", "pods", "web", "status", "update"), true},
		{"eviction", "POST", "/api/v1/namespaces/default/pods/web/eviction", core("default", "pods", "web", "eviction", "create"), true},
		{"cluster-scoped status", "PATCH", "/api/v1/nodes/n1/status", core("", "nodes", "n1", "status", "patch"), true},
		{"group scale", "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale", apps("default", "deployments", "web", "scale", "get"), true},

		// watch
		{"watch=true", "GET", "/api/v1/namespaces/default/pods?watch=true", core("default", "pods", "", "", "watch"), true},
		{"watch=1", "GET", "/api/v1/pods?watch=1", core("", "pods", "", "", "watch"), true},
		{"watch=false lists", "GET", "/api/v1/pods?watch=false", core("", "pods", "", "", "list"), true},
		{"watch=yes lists", "GET", "/api/v1/pods?watch=yes", core("", "pods", "", "", "list"), true},
		{"watch one object", "GET", "/api/v1/namespaces/default/pods/web?watch=true", core("default", "pods", "web", "", "watch"), true},
		{"watch query on a write", "POST", "/api/v1/namespaces/default/pods?watch=true", core("default", "pods", "", "", "create"), true},
		{"legacy watch prefix", "GET", "/api/v1/watch/pods", core("", "pods", "", "", "watch"), true},
		{"legacy watch in a namespace", "GET", "/api/v1/watch/namespaces/default/pods", core("default", "pods", "", "", "watch"), true},
		{"legacy watch of an object", "GET", "/api/v1/watch/namespaces/default/pods/web", core("default", "pods", "web", "", "watch"), true},
		{"legacy watch of namespaces", "GET", "/api/v1/watch/namespaces", core("", "namespaces", "", "", "watch"), true},
		{"legacy watch of a namespace", "GET", "/api/v1/watch/namespaces/kube-system", core("", "namespaces", "kube-system", "", "watch"), true},
		{"legacy watch in a group", "GET", "/apis/apps/v1/watch/namespaces/default/deployments", apps("default", "deployments", "", "", "watch"), true},

		// namespaces themselves
		{"list namespaces", "GET", "/api/v1/namespaces", core("", "namespaces", "", "", "list"), true},
		{"get a namespace", "GET", "/api/v1/namespaces/kube-system", core("", "namespaces", "kube-system", "", "get"), true},
		{"delete a namespace", "DELETE", "/api/v1/namespaces/kube-system", core("", "namespaces", "kube-system", "", "delete"), true},
		{"namespace status", "PUT", "/api/v1/namespaces/kube-system/status", core("", "namespaces", "kube-system", "status", "update"), true},
		{"namespace status get", "GET", "/api/v1/namespaces/kube-system/status", core("", "namespaces", "kube-system", "status", "get"), true},
		{"namespace finalize", "PUT", "/api/v1/namespaces/kube-system/finalize", core("", "namespaces", "kube-system", "finalize", "update"), true},
		{"a namespace called status", "GET", "/api/v1/namespaces/status", core("", "namespaces", "status", "", "get"), true},

		// groups
		{"group list", "GET", "/apis/apps/v1/deployments", apps("", "deployments", "", "", "list"), true},
		{"group get", "GET", "/apis/apps/v1/namespaces/ns/deployments/d", apps("ns", "deployments", "d", "", "get"), true},
		{"dotted group", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
			requestInfo{GroupVersion: schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}, Resource: "clusterroles", Name: "admin", Verb: "get"}, true},

		// not resource requests
		{"root", "GET", "/", requestInfo{}, false},
		{"api discovery", "GET", "/api", requestInfo{}, false},
		{"core version discovery", "GET", "/api/v1", requestInfo{}, false},
		{"apis discovery", "GET", "/apis", requestInfo{}, false},
		{"group discovery", "GET", "/apis/apps", requestInfo{}, false},
		{"group version discovery", "GET", "/apis/apps/v1", requestInfo{}, false},
		{"healthz", "GET", "/healthz", requestInfo{}, false},
		{"unknown root", "GET", "/foo/v1/pods", requestInfo{}, false},
		{"too deep", "GET", "/api/v1/namespaces/default/pods/web/status/extra", requestInfo{}, false},
		{"too deep cluster-scoped", "GET", "/api/v1/nodes/n1/status/x", requestInfo{}, false},
		{"namespaces in a namespace", "GET", "/api/v1/namespaces/default/namespaces", requestInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			got, ok := parseRequestInfo(r)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v (info %+v)", ok, tt.wantOK, got)
			}
			if ok && got != tt.want {
				t.Errorf("info = %+v\nwant   %+v", got, tt.want)
			}
			pub, pubOK := RequestInfo(r)
			if pubOK != ok {
				t.Errorf("RequestInfo ok = %v, parseRequestInfo ok = %v", pubOK, ok)
			}
			if ok && (pub.Verb != got.Verb || pub.Resource != got.Resource || pub.Subresource != got.Subresource || pub.Namespace != got.Namespace) {
				t.Errorf("RequestInfo = %+v, disagrees with %+v", pub, got)
			}
		})
	}
}

// TestParseRequestInfoBareWatch: /api/v1/watch names no resource.
func TestParseRequestInfoBareWatch(t *testing.T) {
	for _, target := range []string{"/api/v1/watch", "/api/v1/watch/", "/apis/apps/v1/watch"} {
		if info, ok := parseRequestInfo(httptest.NewRequest("GET", target, nil)); ok {
			t.Errorf("%s parsed as a resource request: resource %q verb %q", target, info.Resource, info.Verb)
		}
	}
}

// FuzzParseRequestInfo: any method, path and query parse without a panic,
// and what parses is consistent.
func FuzzParseRequestInfo(f *testing.F) {
	for _, s := range []struct{ method, path, query string }{
		{"GET", "/api/v1/namespaces/default/pods", "watch=true"},
		{"GET", "/api/v1/watch/namespaces/default/pods/web", ""},
		{"PUT", "/api/v1/namespaces/kube-system/finalize", ""},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", "fieldManager=x"},
		{"DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "labelSelector=a%3Db"},
		{"POST", "//api//v1//pods//", "watch=1&watch=0"},
		{"BREW", "/api/v1/watch/namespaces", "%zz"},
		{"", "", ""},
	} {
		f.Add(s.method, s.path, s.query)
	}
	f.Fuzz(func(t *testing.T, method, path, query string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}}
		info, ok := parseRequestInfo(r)
		again, okAgain := parseRequestInfo(r)
		if ok != okAgain || info != again {
			t.Fatalf("parse is not deterministic: %+v %v, then %+v %v", info, ok, again, okAgain)
		}
		if _, pubOK := RequestInfo(r); pubOK != ok {
			t.Fatalf("RequestInfo ok = %v, parseRequestInfo ok = %v", pubOK, ok)
		}
		if !ok {
			return
		}
		for _, part := range []string{info.Namespace, info.Resource, info.Name, info.Subresource} {
			if strings.Contains(part, "/") {
				t.Fatalf("path segment with a slash in %+v", info)
			}
		}
		if !strings.HasPrefix(strings.TrimLeft(path, "/"), "api") {
			t.Fatalf("%q parsed as a resource request", path)
		}
		q := r.URL.Query()
		isWatch := q.Get("watch") == "true" || q.Get("watch") == "1" || strings.Contains(path, "/watch/") || strings.HasSuffix(path, "/watch")
		var want string
		switch method {
		case "GET", "HEAD":
			switch {
			case isWatch:
				want = "watch"
			case info.Name == "":
				want = "list"
			default:
				want = "get"
			}
		case "POST":
			want = "create"
		case "PUT":
			want = "update"
		case "PATCH":
			want = "patch"
		case "DELETE":
			want = "deletecollection"
			if info.Name != "" {
				want = "delete"
			}
		default:
			want = strings.ToLower(method)
		}
		// "watch" may also be an object's name; only a prefix makes it a watch.
		if want == "watch" && !(q.Get("watch") == "true" || q.Get("watch") == "1") && info.Verb != "watch" {
			return
		}
		if info.Verb != want {
			t.Fatalf("%s %s?%s: verb %q, want %q (%+v)", method, path, query, info.Verb, want, info)
		}
	})
}
