package openapi

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const (
	title          = "Kubernetes"
	bearerTokenKey = "BearerToken"
)

const unauthorized = "Unauthorized"

// pathGroup is the routes of one path in registration order.
type pathGroup struct {
	path   string
	routes []*route
}

func groupByPath(routes []*route) []pathGroup {
	idx := map[string]int{}
	var out []pathGroup
	for _, r := range routes {
		i, ok := idx[r.path]
		if !ok {
			i = len(out)
			idx[r.path] = i
			out = append(out, pathGroup{path: r.path})
		}
		out[i].routes = append(out[i].routes, r)
	}
	return out
}

// commonParams returns the non-body parameters every route of a path has
// (by name and location); kube-openapi's builders hoist them to the path.
func commonParams(routes []*route) (common []param, isCommon func(param) bool) {
	type key struct{ name, in string }
	count := map[key]int{}
	last := map[key]param{}
	var order []key
	for _, r := range routes {
		for _, p := range r.params {
			k := key{p.name, p.in}
			if count[k] == 0 {
				order = append(order, k)
			}
			count[k]++
			last[k] = p
		}
	}
	set := map[key]bool{}
	for _, k := range order {
		if count[k] == len(routes) {
			set[k] = true
			common = append(common, last[k])
		}
	}
	sortParams(common)
	return common, func(p param) bool { return set[key{p.name, p.in}] }
}

func sortParams(ps []param) {
	sort.SliceStable(ps, func(i, j int) bool {
		return ps[i].name < ps[j].name || (ps[i].name == ps[j].name && ps[i].in < ps[j].in)
	})
}

func gvkExtension(r *route) map[string]any {
	return map[string]any{"group": r.gvk.Group, "version": r.gvk.Version, "kind": r.gvk.Kind}
}

// --- OpenAPI v2 ---

func v2Param(p param) spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: p.name, In: p.in, Description: p.description, Required: p.required},
		SimpleSchema:      spec.SimpleSchema{Type: p.typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func refSchema(d dialect, name string) *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(d.refPrefix() + name)}}
}

// buildSwagger renders the OpenAPI v2 document of every route; defs holds
// the v2 definitions of every type the routes use.
func buildSwagger(version string, docs []*document, defs *schemaSet) *spec.Swagger {
	sw := &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:     "2.0",
		Info:        &spec.Info{InfoProps: spec.InfoProps{Title: title, Version: version}},
		Paths:       &spec.Paths{Paths: map[string]spec.PathItem{}},
		Definitions: spec.Definitions{},
		SecurityDefinitions: spec.SecurityDefinitions{
			bearerTokenKey: &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
				Description: "Bearer Token authentication", Type: "apiKey", Name: "authorization", In: "header",
			}},
		},
		Security: []map[string][]string{{bearerTokenKey: {}}},
	}}
	for _, d := range docs {
		for _, g := range groupByPath(d.routes) {
			common, isCommon := commonParams(g.routes)
			item := spec.PathItem{}
			for _, p := range common {
				item.Parameters = append(item.Parameters, v2Param(p))
			}
			for _, r := range g.routes {
				op := &spec.Operation{OperationProps: spec.OperationProps{
					Description: r.description,
					Consumes:    r.consumes,
					Produces:    r.produces,
					Schemes:     []string{"https"},
					Tags:        r.tags,
					ID:          r.operationID,
					Responses:   &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
				}}
				var ps []param
				for _, p := range r.params {
					if !isCommon(p) {
						ps = append(ps, p)
					}
				}
				sortParams(ps)
				if r.body != nil {
					op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
						Name: "body", In: "body", Required: r.body.required, Schema: refSchema(v2, defs.define(r.body.typ)),
					}})
				}
				for _, p := range ps {
					op.Parameters = append(op.Parameters, v2Param(p))
				}
				sortV2Params(op.Parameters)
				for _, resp := range r.responses {
					op.Responses.StatusCodeResponses[resp.code] = spec.Response{ResponseProps: spec.ResponseProps{
						Description: resp.description, Schema: responseSchema(v2, defs, resp.typ),
					}}
				}
				op.Responses.StatusCodeResponses[401] = spec.Response{ResponseProps: spec.ResponseProps{Description: unauthorized}}
				if r.action != "" {
					op.AddExtension(extAction, r.action)
				}
				if r.gvk != nil {
					op.AddExtension(extGVK, gvkExtension(r))
				}
				setV2Op(&item, r.method, op)
			}
			sw.Paths.Paths[g.path] = item
		}
	}
	for name, s := range defs.defs {
		sw.Definitions[name] = *s
	}
	deduplicateParameters(sw)
	return sw
}

func sortV2Params(ps []spec.Parameter) {
	sort.SliceStable(ps, func(i, j int) bool {
		return ps[i].Name < ps[j].Name || (ps[i].Name == ps[j].Name && ps[i].In < ps[j].In)
	})
}

func setV2Op(item *spec.PathItem, method string, op *spec.Operation) {
	switch method {
	case "GET":
		item.Get = op
	case "POST":
		item.Post = op
	case "PUT":
		item.Put = op
	case "PATCH":
		item.Patch = op
	case "DELETE":
		item.Delete = op
	}
}

// deduplicateParameters moves parameters shared across operations to
// #/parameters/<name>-<hash>, as kube-openapi's v2 builder does. Name
// parameters, kind-specific bodies and the fieldValidation and dryRun
// parameters stay inline: kubectl looks for the latter two on each PATCH
// operation to detect server-side field validation and dry-run.
func deduplicateParameters(sw *spec.Swagger) {
	shareable := func(p *spec.Parameter) bool {
		switch {
		case p.Ref.String() != "":
			return false
		case (p.In == "query" || p.In == "path") && p.Name == "name":
			return false
		case p.In == "query" && (p.Name == "fieldValidation" || p.Name == "dryRun"):
			return false
		case p.In == "body" && p.Schema != nil && !strings.HasPrefix(p.Schema.Ref.String(), "#/definitions/io.k8s.apimachinery"):
			return false
		}
		return true
	}
	names := map[string]string{}
	sw.Parameters = map[string]spec.Parameter{}
	replace := func(ps []spec.Parameter) {
		for i := range ps {
			if !shareable(&ps[i]) {
				continue
			}
			js, err := json.Marshal(ps[i])
			if err != nil {
				continue
			}
			name, ok := names[string(js)]
			if !ok {
				name = ps[i].Name + "-" + base64Hash(js)
				for n := 1; ; n++ {
					if _, taken := sw.Parameters[name]; !taken {
						break
					}
					name = ps[i].Name + "-" + strconv.Itoa(n) // hash collision, as kube-openapi names it
				}
				names[string(js)] = name
				sw.Parameters[name] = ps[i]
			}
			ps[i] = spec.Parameter{Refable: spec.Refable{Ref: spec.MustCreateRef("#/parameters/" + name)}}
		}
	}
	paths := make([]string, 0, len(sw.Paths.Paths))
	for p := range sw.Paths.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		item := sw.Paths.Paths[p]
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op != nil {
				replace(op.Parameters)
			}
		}
		replace(item.Parameters)
		sw.Paths.Paths[p] = item
	}
}

// base64Hash is kube-openapi's parameter name suffix: the first six bytes of
// the FNV-64 hash of the parameter's JSON, URL-base64 encoded.
func base64Hash(b []byte) string {
	h := fnv.New64()
	h.Write(b)
	return base64.URLEncoding.EncodeToString(h.Sum(nil)[:6])
}

// --- OpenAPI v3 ---

// buildV3 renders the OpenAPI v3 document of one discovery path; defs holds
// the v3 definitions and components gets the ones the routes reach.
func buildV3(version string, d *document, defs *schemaSet) *spec3.OpenAPI {
	doc := &spec3.OpenAPI{
		Version: "3.0.0",
		Info:    &spec.Info{InfoProps: spec.InfoProps{Title: title, Version: version}},
		Paths:   &spec3.Paths{Paths: map[string]*spec3.Path{}},
		Components: &spec3.Components{
			Schemas: map[string]*spec.Schema{},
			SecuritySchemes: spec3.SecuritySchemes{
				bearerTokenKey: &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
					Description: "Bearer Token authentication", Type: "apiKey", Name: "authorization", In: "header",
				}},
			},
		},
	}
	var roots []string
	use := func(t reflect.Type) *spec.Schema {
		name := defs.define(t)
		roots = append(roots, name)
		return refSchema(v3, name)
	}
	for _, g := range groupByPath(d.routes) {
		common, isCommon := commonParams(g.routes)
		item := &spec3.Path{}
		for _, p := range common {
			item.Parameters = append(item.Parameters, v3Param(p))
		}
		for _, r := range g.routes {
			op := &spec3.Operation{OperationProps: spec3.OperationProps{
				Description: r.description,
				Tags:        r.tags,
				OperationId: r.operationID,
				Responses:   &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}},
			}}
			var ps []param
			for _, p := range r.params {
				if !isCommon(p) {
					ps = append(ps, p)
				}
			}
			sortParams(ps)
			for _, p := range ps {
				op.Parameters = append(op.Parameters, v3Param(p))
			}
			if r.body != nil {
				s := use(r.body.typ)
				body := &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{
					Content: map[string]*spec3.MediaType{}, Required: r.body.required,
				}}
				for _, ct := range r.consumes {
					body.Content[ct] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: s}}
				}
				op.RequestBody = body
			}
			for _, resp := range r.responses {
				s := stringSchema()
				if resp.typ != nil {
					s = use(resp.typ)
				}
				out := &spec3.Response{ResponseProps: spec3.ResponseProps{Description: resp.description, Content: map[string]*spec3.MediaType{}}}
				for _, ct := range r.produces {
					out.Content[ct] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: s}}
				}
				op.Responses.StatusCodeResponses[resp.code] = out
			}
			op.Responses.StatusCodeResponses[401] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: unauthorized}}
			if r.action != "" {
				op.AddExtension(extAction, r.action)
			}
			if r.gvk != nil {
				op.AddExtension(extGVK, gvkExtension(r))
			}
			switch r.method {
			case "GET":
				item.Get = op
			case "POST":
				item.Post = op
			case "PUT":
				item.Put = op
			case "PATCH":
				item.Patch = op
			case "DELETE":
				item.Delete = op
			}
		}
		doc.Paths.Paths[g.path] = item
	}
	for _, name := range defs.closure(roots) {
		doc.Components.Schemas[name] = scopeGVKs(defs.defs[name], d.gv)
	}
	return doc
}

// scopeGVKs narrows the x-kubernetes-group-version-kind list of a type
// registered in many group/versions (WatchEvent, DeleteOptions) to core/v1
// and the document's own group/version, as kube-apiserver's per-group
// documents do. Other types keep their list.
func scopeGVKs(s *spec.Schema, gv schema.GroupVersion) *spec.Schema {
	list, ok := s.Extensions[extGVK].([]any)
	if !ok || len(list) < 2 {
		return s
	}
	var kept []any
	for _, e := range list {
		m := e.(map[string]any)
		if (m["group"] == "" && m["version"] == "v1") || (m["group"] == gv.Group && m["version"] == gv.Version) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 || len(kept) == len(list) {
		return s
	}
	c := *s
	c.Extensions = make(spec.Extensions, len(s.Extensions))
	for k, v := range s.Extensions {
		c.Extensions[k] = v
	}
	c.Extensions[extGVK] = kept
	return &c
}

func v3Param(p param) *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: p.name, In: p.in, Description: p.description, Required: p.required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{p.typ}, UniqueItems: true}},
	}}
}

// stringSchema is a plain string body (pods/log).
func stringSchema() *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
}

// responseSchema refers to typ's definition, or is a string for nil.
func responseSchema(d dialect, defs *schemaSet, typ reflect.Type) *spec.Schema {
	if typ == nil {
		return stringSchema()
	}
	return refSchema(d, defs.define(typ))
}
