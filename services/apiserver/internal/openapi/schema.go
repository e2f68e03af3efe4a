package openapi

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension keys Kubernetes clients read.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extAction        = "x-kubernetes-action"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
	extUnions        = "x-kubernetes-unions"
)

// dialect selects the OpenAPI flavour a schema is rendered for: v2 puts
// descriptions beside a $ref and has no defaults; v3 wraps such refs in allOf,
// carries zero-value defaults and expresses int-or-string types with oneOf,
// the way kube-apiserver's builders do.
type dialect int

const (
	v2 dialect = iota
	v3
)

func (d dialect) refPrefix() string {
	if d == v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

// Interfaces of apimachinery types whose JSON form is not their Go
// structure (Time, Quantity, IntOrString, Duration). openapi-gen honours
// the same methods.
type (
	swaggerDoc     interface{ SwaggerDoc() map[string]string }
	openAPIType    interface{ OpenAPISchemaType() []string }
	openAPIFormat  interface{ OpenAPISchemaFormat() string }
	openAPIV3OneOf interface{ OpenAPIV3OneOfTypes() []string }
)

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	openAPITypeType = reflect.TypeFor[openAPIType]()
)

// definitionName is the OpenAPI name of a Go type, derived from its package
// path the way Kubernetes names its models: the host part reversed
// (k8s.io → io.k8s), path elements joined with dots, then the type name.
// k8s.io/api/core/v1.Pod → io.k8s.api.core.v1.Pod.
func definitionName(t reflect.Type) string {
	host, rest, _ := strings.Cut(t.PkgPath(), "/")
	labels := strings.Split(host, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	parts := labels
	if rest != "" {
		parts = append(parts, strings.Split(rest, "/")...)
	}
	return strings.Join(parts, ".") + "." + t.Name()
}

// schemaSet renders the definitions of a set of Go types in one dialect.
type schemaSet struct {
	dialect dialect
	// gvks lists the group/version/kinds a type is served as, for the
	// x-kubernetes-group-version-kind extension.
	gvks    map[reflect.Type][]schema.GroupVersionKind
	markers *markerTable

	defs map[string]*spec.Schema
	// deps are the definitions each definition refers to directly.
	deps  map[string][]string
	types map[string]reflect.Type
}

func newSchemaSet(d dialect, gvks map[reflect.Type][]schema.GroupVersionKind, markers *markerTable) *schemaSet {
	return &schemaSet{
		dialect: d,
		gvks:    gvks,
		markers: markers,
		defs:    map[string]*spec.Schema{},
		deps:    map[string][]string{},
		types:   map[string]reflect.Type{},
	}
}

// define ensures t (a named type) has a definition and returns its name.
func (s *schemaSet) define(t reflect.Type) string {
	t = deref(t)
	name := definitionName(t)
	if _, ok := s.defs[name]; ok {
		return name
	}
	def := &spec.Schema{}
	// Registered before the body is built so recursive types terminate.
	s.defs[name] = def
	s.types[name] = t
	var deps []string

	zero := reflect.New(t).Interface()
	if ot, ok := zero.(openAPIType); ok {
		def.Type = ot.OpenAPISchemaType()
		if of, ok := zero.(openAPIFormat); ok {
			def.Format = of.OpenAPISchemaFormat()
		}
		if oneOf, ok := zero.(openAPIV3OneOf); ok && s.dialect == v3 {
			def.Type = nil
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				def.OneOf = append(def.OneOf, spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{typ}}})
			}
		}
		def.Description = s.docsOf(t)[""]
	} else {
		docs := s.docsOf(t)
		def.Description = docs[""]
		def.Type = []string{"object"}
		if t.Kind() == reflect.Struct {
			var required []string
			s.collectFields(t, docs, def, &required, &deps)
			def.Required = required
		}
		s.markers.applyType(t, &def.VendorExtensible)
	}
	if gvks := s.gvks[t]; len(gvks) > 0 {
		list := make([]any, 0, len(gvks))
		for _, gvk := range gvks {
			list = append(list, map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
		}
		def.AddExtension(extGVK, list)
	}
	s.deps[name] = uniq(deps)
	return name
}

// collectFields adds the JSON fields of struct t to def, flattening inline
// embedded structs the way encoding/json does.
func (s *schemaSet) collectFields(t reflect.Type, docs map[string]string, def *spec.Schema, required *[]string, deps *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && (hasTag || !f.IsExported()) {
			if et := deref(f.Type); et.Kind() == reflect.Struct {
				s.collectFields(et, s.docsOf(et), def, required, deps)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omitempty := hasOption(opts, "omitempty")

		prop, ref := s.propertySchema(f.Type, deps)
		if hasOption(opts, "string") {
			// encoding/json writes such fields as strings.
			prop, ref = typed("string", ""), ""
		}
		prop.Description = docs[name]
		s.markers.applyEnum(f.Type, &prop)
		if strategy := f.Tag.Get("patchStrategy"); strategy != "" {
			prop.AddExtension(extPatchStrategy, strategy)
		}
		if key := f.Tag.Get("patchMergeKey"); key != "" {
			prop.AddExtension(extPatchMergeKey, key)
		}
		fm := s.markers.field(t, f.Name)
		fm.apply(&prop)
		if s.dialect == v3 {
			if d, ok := fm.defaultValue(); ok {
				prop.Default = d
			} else if d, ok := enforcedDefault(f.Type, omitempty); ok {
				prop.Default = d
			}
			if ref != "" && !isPlainRef(prop) {
				// A $ref may have no siblings in OpenAPI 3.0; kube-openapi's
				// WrapRefs moves it into allOf.
				prop.AllOf = []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: prop.Ref}}}
				prop.Ref = spec.Ref{}
			}
		}
		if def.Properties == nil {
			def.Properties = map[string]spec.Schema{}
		}
		def.Properties[name] = prop
		if fm.isRequired(omitempty) {
			*required = append(*required, name)
		}
	}
}

// propertySchema is the schema of a value of type t as it appears inside
// another schema: primitives inline, named structs and special types by
// reference. It returns the referenced definition name, if any.
func (s *schemaSet) propertySchema(t reflect.Type, deps *[]string) (spec.Schema, string) {
	t = deref(t)
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return typed("string", "byte"), ""
	}
	if isDefinition(t) {
		name := s.define(t)
		*deps = append(*deps, name)
		return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(s.dialect.refPrefix() + name)}}, name
	}
	switch t.Kind() {
	case reflect.Bool:
		return typed("boolean", ""), ""
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16:
		return typed("integer", "int32"), ""
	case reflect.Int8, reflect.Uint8:
		return typed("integer", "byte"), ""
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return typed("integer", "int64"), ""
	case reflect.Float32:
		return typed("number", "float"), ""
	case reflect.Float64:
		return typed("number", "double"), ""
	case reflect.String:
		return typed("string", ""), ""
	case reflect.Slice, reflect.Array:
		item, _ := s.propertySchema(t.Elem(), deps)
		sch := typed("array", "")
		sch.Items = &spec.SchemaOrArray{Schema: &item}
		return sch, ""
	case reflect.Map:
		val, _ := s.propertySchema(t.Elem(), deps)
		sch := typed("object", "")
		sch.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &val}
		return sch, ""
	case reflect.Interface:
		return typed("object", ""), ""
	}
	return spec.Schema{}, ""
}

// isDefinition reports whether values of t are described by a named
// definition rather than inline: named structs and types with a custom
// OpenAPI type.
func isDefinition(t reflect.Type) bool {
	if t.Name() == "" || t.PkgPath() == "" {
		return false
	}
	return t.Kind() == reflect.Struct || reflect.PointerTo(t).Implements(openAPITypeType)
}

// enforcedDefault mirrors openapi-gen's mustEnforceDefault: a non-pointer
// struct field defaults to {}, a non-omitempty primitive to its zero value,
// and anything with custom unmarshalling to nothing.
func enforcedDefault(t reflect.Type, omitempty bool) (any, bool) {
	if t.Kind() == reflect.Pointer {
		return nil, false
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil, false
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.NumField() == 1 && t.Field(0).Anonymous {
			return enforcedDefault(t.Field(0).Type, omitempty)
		}
		return map[string]any{}, true
	case reflect.Bool:
		if !omitempty {
			return false, true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if !omitempty {
			return 0, true
		}
	case reflect.String:
		if !omitempty {
			return "", true
		}
	}
	return nil, false
}

func isPlainRef(s spec.Schema) bool {
	return reflect.DeepEqual(s, spec.Schema{SchemaProps: spec.SchemaProps{Ref: s.Ref}})
}

func typed(typ, format string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{typ}, Format: format}}
}

// docsOf returns the documentation of t keyed by JSON field name, "" being
// the type itself: its SwaggerDoc, overlaid with the texts markers.txt
// records for types without one and for texts SwaggerDoc cuts short.
func (s *schemaSet) docsOf(t reflect.Type) map[string]string {
	var docs map[string]string
	if d, ok := reflect.New(t).Interface().(swaggerDoc); ok {
		docs = d.SwaggerDoc()
	}
	if s.markers == nil || len(s.markers.docs[typeKey(t)]) == 0 {
		return docs
	}
	merged := make(map[string]string, len(docs)+len(s.markers.docs[typeKey(t)]))
	for k, v := range docs {
		merged[k] = v
	}
	for k, v := range s.markers.docs[typeKey(t)] {
		merged[k] = v
	}
	return merged
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

func uniq(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, v := range in {
		if i == 0 || v != in[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// closure returns the names of roots and every definition they reach.
func (s *schemaSet) closure(roots []string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range s.deps[n] {
			walk(d)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
