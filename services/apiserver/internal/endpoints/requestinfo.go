package endpoints

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what a resource request path and method say.
type requestInfo struct {
	schema.GroupVersion
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Verb is the Kubernetes verb: get list watch create update patch delete deletecollection.
	Verb string
}

// parseRequestInfo reads /api/v1/... and /apis/<group>/<version>/... paths.
// ok is false for paths that are not resource requests (discovery documents
// are handled before this is called).
func parseRequestInfo(r *http.Request) (requestInfo, bool) {
	var info requestInfo
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		info.Version = parts[1]
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		info.Group, info.Version = parts[1], parts[2]
		parts = parts[3:]
	default:
		return info, false
	}
	if len(parts) == 0 {
		return info, false
	}
	watchPrefix := false
	if parts[0] == "watch" {
		// Deprecated /watch/ paths, still used by some clients.
		watchPrefix = true
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
	}
	for _, p := range parts {
		if p == "" {
			return info, false // e.g. namespaces//pods
		}
	}
	// namespaces/<ns>/<resource>... unless the path is the namespace itself
	// or one of its subresources (status, finalize).
	if len(parts) >= 3 && parts[0] == "namespaces" {
		info.Namespace = parts[1]
		parts = parts[2:]
	} else if len(parts) == 2 && parts[0] == "namespaces" && watchPrefix {
		info.Resource = "namespaces"
		info.Name = parts[1]
		parts = nil
	}
	if len(parts) > 0 {
		info.Resource = parts[0]
	}
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 {
		return info, false
	}
	if info.Resource == "namespaces" && info.Namespace != "" && info.Name == "" && len(parts) <= 1 {
		// /api/v1/namespaces/<ns>/namespaces is not a thing.
		return info, false
	}
	// A namespace's own subresources: /api/v1/namespaces/<name>/status.
	// status and finalize are never namespaced resources, so this is unambiguous.
	if info.Namespace != "" && info.Resource != "" && info.Name == "" && isNamespaceSubresource(info.Resource) && len(parts) == 1 {
		info.Subresource = info.Resource
		info.Resource = "namespaces"
		info.Name = info.Namespace
		info.Namespace = ""
	}

	q := r.URL.Query()
	isWatch := watchPrefix || q.Get("watch") == "true" || q.Get("watch") == "1"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case info.Name == "" && isWatch:
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		case isWatch:
			info.Verb = "watch"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	default:
		info.Verb = strings.ToLower(r.Method)
	}
	return info, true
}

func isNamespaceSubresource(s string) bool { return s == "status" || s == "finalize" }

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
