package openapi

import (
	"k8s.io/kube-openapi/pkg/validation/spec"

	"drover.dev/apiserver/internal/registry"
)

// Schemas returns the OpenAPI v3 definitions of every type the registry's
// routes take or return, keyed by definition name and referring to each
// other as #/components/schemas/<name>: the models kube-apiserver hands to
// managedfields.NewTypeConverter for server-side apply. They are built by
// the same code as the served /openapi/v3 documents, so list and map
// semantics (x-kubernetes-list-type, -list-map-keys, -map-type) agree with
// what clients read. Unlike the per-group documents, each kind keeps its
// full x-kubernetes-group-version-kind list, so a type registered in many
// group/versions is found under each of them. Every call builds a fresh map.
func Schemas(reg *registry.Registry) (map[string]*spec.Schema, error) {
	markers, err := parseMarkers(markersText)
	if err != nil {
		return nil, err
	}
	docs, err := buildDocuments(reg)
	if err != nil {
		return nil, err
	}
	defs := newSchemaSet(v3, servedKinds(reg), markers)
	for _, d := range docs {
		for _, r := range d.routes {
			if r.body != nil {
				defs.define(r.body.typ)
			}
			for _, resp := range r.responses {
				if resp.typ != nil {
					defs.define(resp.typ)
				}
			}
		}
	}
	return defs.defs, nil
}
