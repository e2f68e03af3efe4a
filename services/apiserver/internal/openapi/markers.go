package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// markers.txt holds what openapi-gen reads from the source comments of the
// k8s.io/api types we serve and reflection cannot see: the markers
// +optional, +required, +listType, +listMapKey, +mapType, +structType,
// +default, +enum and unions, and the doc comments of the few types without
// a SwaggerDoc method. gen_markers.go extracts them from the module's
// k8s.io/api and k8s.io/apimachinery sources; regenerate with `go generate`
// after bumping them (TestMarkersUpToDate fails when they are stale).
//
//go:generate go run gen_markers.go -out markers.txt
//go:embed markers.txt
var markersText string

// markerTable is the parsed form of markers.txt.
type markerTable struct {
	// types is keyed by "<package path>.<Type>".
	types map[string]typeMarkers
	// fields is keyed by "<package path>.<Type>.<GoField>".
	fields map[string]fieldMarkers
	// docs holds the descriptions of types without a SwaggerDoc method,
	// keyed like types, in SwaggerDoc's form ("" is the type itself).
	docs map[string]map[string]string
}

type typeMarkers struct {
	// structType is +structType (atomic or granular).
	structType string
	// enum lists the values of a +enum string type, sorted.
	enum []enumValue
	// union is the type's x-kubernetes-unions entry, if it has one.
	union *union
}

// union is a group of mutually exclusive fields, optionally named by a
// discriminator field.
type union struct {
	discriminator string
	// fields maps member JSON names to their Go names.
	fields map[string]string
}

type enumValue struct {
	value, doc string
}

type fieldMarkers struct {
	optional, required bool
	listType           string
	listMapKeys        []string
	mapType            string
	// defaultJSON is the JSON literal of +default, "" if none.
	defaultJSON string
}

func typeKey(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// parseMarkers reads markers.txt: one tab-separated record per line,
// "type <key> <attr>...", "field <key> <attr>...", "enum <key> <value> <doc>"
// "union <key> <discriminator> <json>=<GoName>..." or "doc <key> <json> <quoted text>";
// attributes are name or name=value.
func parseMarkers(text string) (*markerTable, error) {
	m := &markerTable{types: map[string]typeMarkers{}, fields: map[string]fieldMarkers{}, docs: map[string]map[string]string{}}
	for n, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rec := strings.Split(line, "\t")
		if len(rec) < 2 {
			return nil, fmt.Errorf("openapi: markers line %d: %q", n+1, line)
		}
		key := rec[1]
		switch rec[0] {
		case "type":
			tm := m.types[key]
			for _, a := range rec[2:] {
				name, val, _ := strings.Cut(a, "=")
				if name == "structType" {
					tm.structType = val
				}
			}
			m.types[key] = tm
		case "doc":
			if len(rec) != 4 {
				return nil, fmt.Errorf("openapi: markers line %d: doc needs a name and a text", n+1)
			}
			text, err := strconv.Unquote(rec[3])
			if err != nil {
				return nil, fmt.Errorf("openapi: markers line %d: %w", n+1, err)
			}
			if m.docs[key] == nil {
				m.docs[key] = map[string]string{}
			}
			m.docs[key][rec[2]] = text
		case "union":
			if len(rec) < 4 {
				return nil, fmt.Errorf("openapi: markers line %d: union needs members", n+1)
			}
			u := &union{discriminator: rec[2], fields: map[string]string{}}
			for _, a := range rec[3:] {
				jsonName, goName, _ := strings.Cut(a, "=")
				u.fields[jsonName] = goName
			}
			tm := m.types[key]
			tm.union = u
			m.types[key] = tm
		case "enum":
			if len(rec) != 4 {
				return nil, fmt.Errorf("openapi: markers line %d: enum needs value and doc", n+1)
			}
			tm := m.types[key]
			tm.enum = append(tm.enum, enumValue{value: rec[2], doc: rec[3]})
			m.types[key] = tm
		case "field":
			fm := m.fields[key]
			for _, a := range rec[2:] {
				name, val, _ := strings.Cut(a, "=")
				switch name {
				case "optional":
					fm.optional = true
				case "required":
					fm.required = true
				case "listType":
					fm.listType = val
				case "listMapKey":
					fm.listMapKeys = append(fm.listMapKeys, val)
				case "mapType":
					fm.mapType = val
				case "default":
					if !json.Valid([]byte(val)) {
						return nil, fmt.Errorf("openapi: markers line %d: default %q is not JSON", n+1, val)
					}
					fm.defaultJSON = val
				}
			}
			m.fields[key] = fm
		default:
			return nil, fmt.Errorf("openapi: markers line %d: unknown record %q", n+1, rec[0])
		}
	}
	for k, tm := range m.types {
		sort.Slice(tm.enum, func(i, j int) bool { return tm.enum[i].value < tm.enum[j].value })
		m.types[k] = tm
	}
	return m, nil
}

func (m *markerTable) field(owner reflect.Type, goName string) fieldMarkers {
	if m == nil {
		return fieldMarkers{}
	}
	return m.fields[typeKey(owner)+"."+goName]
}

// applyType adds type-level extensions: +structType=atomic becomes
// x-kubernetes-map-type on the definition, as openapi-gen does.
func (m *markerTable) applyType(t reflect.Type, ext *spec.VendorExtensible) {
	if m == nil {
		return
	}
	tm := m.types[typeKey(t)]
	if tm.structType != "" {
		ext.AddExtension(extMapType, tm.structType)
	}
	if u := tm.union; u != nil {
		fields := make(map[string]any, len(u.fields))
		for k, v := range u.fields {
			fields[k] = v
		}
		entry := map[string]any{"fields-to-discriminateBy": fields}
		if u.discriminator != "" {
			entry["discriminator"] = u.discriminator
		}
		ext.AddExtension(extUnions, []any{entry})
	}
}

// applyEnum adds the values of a +enum type to prop, listing them in the
// description, or to the items or values of a list or map of them, as
// openapi-gen does.
func (m *markerTable) applyEnum(t reflect.Type, prop *spec.Schema) {
	if m == nil {
		return
	}
	t = deref(t)
	switch {
	case t.Kind() == reflect.Slice && prop.Items != nil && prop.Items.Schema != nil:
		for _, v := range m.enumOf(t.Elem()) {
			prop.Items.Schema.Enum = append(prop.Items.Schema.Enum, v.value)
		}
	case t.Kind() == reflect.Map && prop.AdditionalProperties != nil && prop.AdditionalProperties.Schema != nil:
		for _, v := range m.enumOf(t.Elem()) {
			prop.AdditionalProperties.Schema.Enum = append(prop.AdditionalProperties.Schema.Enum, v.value)
		}
	default:
		values := m.enumOf(t)
		if len(values) == 0 {
			return
		}
		var doc strings.Builder
		doc.WriteString("Possible enum values:")
		for _, v := range values {
			prop.Enum = append(prop.Enum, v.value)
			doc.WriteString("\n - `" + strconv.Quote(v.value) + "`")
			if v.doc != "" {
				doc.WriteString(" " + v.doc)
			}
		}
		if prop.Description != "" {
			prop.Description += "\n\n"
		}
		prop.Description += doc.String()
	}
}

func (m *markerTable) enumOf(t reflect.Type) []enumValue {
	if t.Kind() != reflect.String || t.Name() == "" {
		return nil
	}
	return m.types[typeKey(t)].enum
}

func (fm fieldMarkers) apply(prop *spec.Schema) {
	if fm.listType != "" {
		prop.AddExtension(extListType, fm.listType)
	}
	if len(fm.listMapKeys) > 0 {
		keys := make([]any, len(fm.listMapKeys))
		for i, k := range fm.listMapKeys {
			keys[i] = k
		}
		prop.AddExtension(extListMapKeys, keys)
	}
	if fm.mapType != "" {
		prop.AddExtension(extMapType, fm.mapType)
	}
}

func (fm fieldMarkers) defaultValue() (any, bool) {
	if fm.defaultJSON == "" {
		return nil, false
	}
	var v any
	if err := json.Unmarshal([]byte(fm.defaultJSON), &v); err != nil {
		return nil, false
	}
	return v, true
}

// isRequired follows openapi-gen: +required and +optional win, otherwise a
// field is optional when its json tag has omitempty.
func (fm fieldMarkers) isRequired(omitempty bool) bool {
	switch {
	case fm.required:
		return true
	case fm.optional:
		return false
	}
	return !omitempty
}
