package openapi

import (
	"bytes"
	"fmt"
	corev1 "k8s.io/api/core/v1"
	"reflect"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"

	"drover.dev/apiserver/internal/registry"
)

// Media types kube-apiserver advertises for built-in resources.
var (
	objectMediaTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/cbor"}
	streamMediaTypes = append(append([]string{}, objectMediaTypes...),
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch", "application/cbor-seq")
	patchMediaTypes = []string{
		string(types.JSONPatchType),
		string(types.MergePatchType),
		string(types.StrategicMergePatchType),
		string(types.ApplyYAMLPatchType),
	}
	anyMediaType = []string{"*/*"}
)

// deleteReturnsObject lists the resources whose DELETE answers with the
// deleted object rather than a Status, as their kube-apiserver storage does.
var deleteReturnsObject = map[schema.GroupResource]bool{
	{Resource: "persistentvolumeclaims"}:                  true,
	{Resource: "persistentvolumes"}:                       true,
	{Resource: "pods"}:                                    true,
	{Resource: "resourcequotas"}:                          true,
	{Resource: "serviceaccounts"}:                         true,
	{Resource: "services"}:                                true,
	{Group: "storage.k8s.io", Resource: "storageclasses"}: true,
}

const (
	prettyDoc    = "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget)."
	namespaceDoc = "object name and auth scope, such as for teams and projects"
)

// route is one operation on one path, the unit kube-apiserver's go-restful
// routes are; the v2 and v3 renderers group routes by path.
type route struct {
	path   string
	method string // GET, POST, PUT, PATCH, DELETE
	action string // x-kubernetes-action, "" for discovery routes
	gvk    *schema.GroupVersionKind
	// operationID is the installer's name (listNamespacedDeployment) until
	// buildDocuments qualifies it with the group/version
	// (listAppsV1NamespacedDeployment).
	operationID string
	description string
	tags        []string
	params      []param // non-body parameters, including path parameters
	body        *bodyParam
	consumes    []string
	produces    []string
	responses   []response
}

type param struct {
	name, in, description, typ string
	required                   bool
}

type bodyParam struct {
	typ      reflect.Type
	required bool
}

type response struct {
	code        int
	description string
	typ         reflect.Type // nil: a plain string
}

// document is one OpenAPI v3 document: the routes below one discovery path
// such as "api/v1" or "apis/apps".
type document struct {
	key string
	// gv is the group/version the document serves, zero for discovery
	// documents such as "apis/apps".
	gv     schema.GroupVersion
	routes []*route
}

// buildDocuments lays out every route the registry's resources have, grouped
// the way kube-apiserver's /openapi/v3 groups them.
func buildDocuments(reg *registry.Registry) ([]*document, error) {
	var docs []*document
	add := func(key string, routes ...*route) { docs = append(docs, &document{key: key, routes: routes}) }

	add("api", discoveryRoute("/api/", "getAPIVersions", "get available API versions", &metav1.APIVersions{}))
	add("apis", discoveryRoute("/apis/", "getAPIVersions", "get available API versions", &metav1.APIGroupList{}))
	for _, g := range reg.Groups() {
		add("apis/"+g.Name, discoveryRoute("/apis/"+g.Name+"/", "getAPIGroup", "get information of a group", &metav1.APIGroup{}))
	}
	for _, gv := range reg.GroupVersions() {
		prefix := "/apis/" + gv.Group + "/" + gv.Version
		key := "apis/" + gv.Group + "/" + gv.Version
		if gv.Group == "" {
			prefix, key = "/api/"+gv.Version, "api/"+gv.Version
		}
		routes := []*route{discoveryRoute(prefix+"/", "getAPIResources", "get available resources", &metav1.APIResourceList{})}
		for _, res := range reg.ForGroupVersion(gv) {
			rs, err := resourceRoutes(prefix, res)
			if err != nil {
				return nil, err
			}
			routes = append(routes, rs...)
		}
		add(key, routes...)
		docs[len(docs)-1].gv = gv
	}
	versionRoute := discoveryRoute("/version/", "getCodeVersion", "get the version information for this server", &version.Info{})
	versionRoute.consumes = []string{"application/json"}
	versionRoute.produces = []string{"application/json"}
	add("version", versionRoute)

	for _, d := range docs {
		for _, r := range d.routes {
			id, tags, err := operationIDAndTags(r.operationID, r.path)
			if err != nil {
				return nil, err
			}
			r.operationID, r.tags = id, tags
		}
	}
	return docs, nil
}

func discoveryRoute(path, op, doc string, out any) *route {
	return &route{
		path:        path,
		method:      "GET",
		operationID: op,
		description: doc,
		consumes:    objectMediaTypes,
		produces:    objectMediaTypes,
		responses:   []response{{200, "OK", reflect.TypeOf(out).Elem()}},
	}
}

// verb is an installer action: what kube-apiserver's endpoint installer
// calls MethodList, MethodPost, ...
type verb int

const (
	verbList verb = iota
	verbPost
	verbDeleteCollection
	verbWatchList
	verbGet
	verbPut
	verbPatch
	verbDelete
	verbWatch
)

// resourceRoutes mirrors k8s.io/apiserver's endpoint installer for one
// resource and its subresources: the same paths, operation names, docs,
// parameters and responses.
func resourceRoutes(prefix string, res *registry.Resource) ([]*route, error) {
	objType, err := goType(res.GVK())
	if err != nil {
		return nil, err
	}
	var listType reflect.Type
	if contains(res.Verbs, "list") {
		if listType, err = goType(res.GroupVersion().WithKind(res.Kind + "List")); err != nil {
			return nil, err
		}
	}
	b := &routeBuilder{prefix: prefix, res: res, parentKind: res.Kind, listType: listType}
	var out []*route
	out = append(out, b.routes("", res.Kind, res.GVK(), objType, res.Verbs)...)
	for _, sub := range res.Subresources {
		t, err := goType(sub.GVK)
		if err != nil {
			return nil, err
		}
		out = append(out, b.routes(sub.Name, sub.GVK.Kind, sub.GVK, t, sub.Verbs)...)
	}
	return out, nil
}

func goType(gvk schema.GroupVersionKind) (reflect.Type, error) {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("openapi: %v: %w", gvk, err)
	}
	return reflect.TypeOf(obj).Elem(), nil
}

type routeBuilder struct {
	prefix     string
	res        *registry.Resource
	parentKind string
	listType   reflect.Type
}

type action struct {
	verb          verb
	path          string
	params        []param
	allNamespaces bool
}

// routes builds the routes of the resource (subresource "") or of one
// subresource, whose storage serves kind gvk with Go type objType.
func (b *routeBuilder) routes(subresource, storageKind string, gvk schema.GroupVersionKind, objType reflect.Type, verbs []string) []*route {
	has := map[string]bool{}
	for _, v := range verbs {
		has[v] = true
	}
	isSub := subresource != ""
	isLister, isWatcher := has["list"] && !isSub, has["watch"] && !isSub
	allowWatchList := isLister && isWatcher

	nameParam := param{name: "name", in: "path", description: "name of the " + storageKind, typ: "string", required: true}
	resource := b.res.Resource
	var resourcePath, itemPath string
	var resourceParams, nameParams []param
	if b.res.Namespaced {
		nsParam := param{name: "namespace", in: "path", description: namespaceDoc, typ: "string", required: true}
		resourcePath = "namespaces/{namespace}/" + resource
		itemPath = resourcePath + "/{name}"
		resourceParams = []param{nsParam}
		nameParams = []param{nsParam, nameParam}
	} else {
		resourcePath = resource
		itemPath = resource + "/{name}"
		nameParams = []param{nameParam}
	}
	if isSub {
		itemPath += "/" + subresource
		resourcePath, resourceParams = itemPath, nameParams
	}

	var actions []action
	addIf := func(ok bool, a action) {
		if ok {
			actions = append(actions, a)
		}
	}
	addIf(isLister, action{verbList, resourcePath, resourceParams, false})
	addIf(has["create"], action{verbPost, resourcePath, resourceParams, false})
	addIf(has["deletecollection"], action{verbDeleteCollection, resourcePath, resourceParams, false})
	addIf(allowWatchList, action{verbWatchList, "watch/" + resourcePath, resourceParams, false})
	addIf(has["get"], action{verbGet, itemPath, nameParams, false})
	addIf(has["update"], action{verbPut, itemPath, nameParams, false})
	addIf(has["patch"], action{verbPatch, itemPath, nameParams, false})
	addIf(has["delete"], action{verbDelete, itemPath, nameParams, false})
	addIf(isWatcher, action{verbWatch, "watch/" + itemPath, nameParams, false})
	if b.res.Namespaced && !isSub {
		addIf(isLister, action{verbList, resource, nil, true})
		addIf(allowWatchList, action{verbWatchList, "watch/" + resource, nil, true})
	}

	kind := b.parentKind
	title := ""
	if isSub {
		title = strings.ToUpper(subresource[:1]) + subresource[1:]
	}
	var out []*route
	for _, a := range actions {
		namespaced, suffix := "", ""
		if b.res.Namespaced {
			namespaced = "Namespaced"
		}
		if a.allNamespaces {
			namespaced, suffix = "", "ForAllNamespaces"
		}
		r := &route{
			path:     b.prefix + "/" + a.path,
			gvk:      &gvk,
			consumes: anyMediaType,
			produces: objectMediaTypes,
		}
		params := []param{{name: "pretty", in: "query", description: prettyDoc, typ: "string"}}
		article := articleFor(kind)
		switch a.verb {
		case verbGet:
			r.method, r.action = "GET", "get"
			r.description = "read the specified " + kind
			if isSub {
				r.description = "read " + subresource + " of the specified " + kind
			}
			r.operationID = "read" + namespaced + kind + title + suffix
			r.responses = []response{{200, "OK", objType}}
			if isSub && subresource == "log" {
				// Logs are text: a string schema and PodLogOptions' parameters.
				r.produces = append([]string{"text/plain"}, objectMediaTypes...)
				r.responses = []response{{200, "OK", nil}}
				params = append(params, optionParams(&corev1.PodLogOptions{})...)
			}
		case verbList:
			r.method, r.action = "GET", "list"
			r.description = "list objects of kind " + kind
			if isLister && isWatcher {
				r.description = "list or watch objects of kind " + kind
			}
			r.operationID = "list" + namespaced + kind + title + suffix
			r.produces = streamMediaTypes
			r.responses = []response{{200, "OK", b.listType}}
			params = append(params, optionParams(&metav1.ListOptions{})...)
		case verbPut:
			r.method, r.action = "PUT", "put"
			r.description = "replace the specified " + kind
			if isSub {
				r.description = "replace " + subresource + " of the specified " + kind
			}
			r.operationID = "replace" + namespaced + kind + title + suffix
			r.body = &bodyParam{typ: objType, required: true}
			r.responses = []response{{200, "OK", objType}, {201, "Created", objType}}
			params = append(params, optionParams(&metav1.UpdateOptions{})...)
		case verbPatch:
			r.method, r.action = "PATCH", "patch"
			r.description = "partially update the specified " + kind
			if isSub {
				r.description = "partially update " + subresource + " of the specified " + kind
			}
			r.operationID = "patch" + namespaced + kind + title + suffix
			r.consumes = patchMediaTypes
			r.body = &bodyParam{typ: reflect.TypeFor[metav1.Patch](), required: true}
			r.responses = []response{{200, "OK", objType}, {201, "Created", objType}}
			params = append(params, optionParams(&metav1.PatchOptions{})...)
		case verbPost:
			r.method, r.action = "POST", "post"
			r.description = "create" + article + kind
			if isSub {
				r.description = "create " + subresource + " of" + article + kind
			}
			r.operationID = "create" + namespaced + kind + title + suffix
			r.body = &bodyParam{typ: objType, required: true}
			r.responses = []response{{200, "OK", objType}, {201, "Created", objType}, {202, "Accepted", objType}}
			params = append(params, optionParams(&metav1.CreateOptions{})...)
		case verbDelete:
			r.method, r.action = "DELETE", "delete"
			r.description = "delete" + article + kind
			if isSub {
				r.description = "delete " + subresource + " of" + article + kind
			}
			r.operationID = "delete" + namespaced + kind + title + suffix
			ret := reflect.TypeFor[metav1.Status]()
			if !isSub && deleteReturnsObject[b.res.GroupResource()] {
				ret = objType
			}
			r.body = &bodyParam{typ: reflect.TypeFor[metav1.DeleteOptions]()}
			r.responses = []response{{200, "OK", ret}, {202, "Accepted", ret}}
			params = append(params, optionParams(&metav1.DeleteOptions{})...)
		case verbDeleteCollection:
			r.method, r.action = "DELETE", "deletecollection"
			r.description = "delete collection of " + kind
			if isSub {
				r.description = "delete collection of " + subresource + " of a " + kind
			}
			r.operationID = "deletecollection" + namespaced + kind + title + suffix
			r.body = &bodyParam{typ: reflect.TypeFor[metav1.DeleteOptions]()}
			r.responses = []response{{200, "OK", reflect.TypeFor[metav1.Status]()}}
			params = append(params, optionParams(&metav1.DeleteOptions{})...)
			params = append(params, optionParams(&metav1.ListOptions{}, "watch", "allowWatchBookmarks")...)
		case verbWatch:
			r.method, r.action = "GET", "watch"
			r.description = "watch changes to an object of kind " + kind +
				". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
			r.operationID = "watch" + namespaced + kind + title + suffix
			r.produces = streamMediaTypes
			r.responses = []response{{200, "OK", reflect.TypeFor[metav1.WatchEvent]()}}
			params = append(params, optionParams(&metav1.ListOptions{})...)
		case verbWatchList:
			r.method, r.action = "GET", "watchlist"
			r.description = "watch individual changes to a list of " + kind +
				". deprecated: use the 'watch' parameter with a list operation instead."
			r.operationID = "watch" + namespaced + kind + title + "List" + suffix
			r.produces = streamMediaTypes
			r.responses = []response{{200, "OK", reflect.TypeFor[metav1.WatchEvent]()}}
			params = append(params, optionParams(&metav1.ListOptions{})...)
		}
		r.params = append(params, a.params...)
		out = append(out, r)
	}
	return out
}

// articleFor mirrors the installer's GetArticleForNoun with " " padding.
func articleFor(noun string) string {
	if !strings.HasSuffix(noun, "ss") && strings.HasSuffix(noun, "s") {
		return " "
	}
	if strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return " an "
	}
	return " a "
}

// optionParams turns the top-level fields of an options struct into query
// parameters, as the installer's AddObjectParams does: JSON name, the
// struct's SwaggerDoc as description, nested structs skipped.
func optionParams(obj any, exclude ...string) []param {
	t := reflect.TypeOf(obj).Elem()
	var docs map[string]string
	if d, ok := obj.(swaggerDoc); ok {
		docs = d.SwaggerDoc()
	}
	var out []param
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var typ string
		switch ft.Kind() {
		case reflect.Bool:
			typ = "boolean"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			typ = "integer"
		case reflect.Float32, reflect.Float64:
			typ = "number"
		case reflect.String:
			typ = "string"
		case reflect.Slice:
			switch ft.Elem().Kind() {
			case reflect.String:
				typ = "string"
			case reflect.Int32:
				typ = "integer"
			}
		}
		if typ == "" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || contains(exclude, name) {
			continue
		}
		out = append(out, param{name: name, in: "query", description: docs[name], typ: typ})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// operationVerbs are the prefixes kube-apiserver recognises in operation
// names; as in its trie, the shortest matching prefix wins.
var operationVerbs = []string{"get", "log", "read", "replace", "patch", "delete", "deletecollection", "watch", "connect", "proxy", "list", "create"}

// operationIDAndTags mirrors k8s.io/apiserver's GetOperationIDAndTags:
// "listNamespacedDeployment" on /apis/apps/v1/... becomes
// "listAppsV1NamespacedDeployment" with tag "apps_v1".
func operationIDAndTags(op, path string) (string, []string, error) {
	prefix := ""
	for _, v := range operationVerbs {
		if strings.HasPrefix(op, v) && (prefix == "" || len(v) < len(prefix)) {
			prefix = v
		}
	}
	if prefix == "" {
		return "", nil, fmt.Errorf("openapi: operation %q does not start with a verb", op)
	}
	op = op[len(prefix):]
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) >= 1 && parts[0] == "api" {
		parts = append([]string{"apis", "core"}, parts[1:]...)
	}
	var tags []string
	if len(parts) >= 2 && parts[0] == "apis" {
		trimmed := strings.TrimSuffix(parts[1], ".k8s.io")
		prefix += validOperationID(trimmed, true)
		tag := validOperationID(trimmed, false)
		if len(parts) > 2 {
			prefix += validOperationID(parts[2], true)
			tag += "_" + validOperationID(parts[2], false)
		}
		tags = append(tags, tag)
	} else if len(parts) >= 1 {
		tags = append(tags, validOperationID(parts[0], false))
	}
	return prefix + validOperationID(op, true), tags, nil
}

// validOperationID drops characters that are not letters, '_' or (past the
// first position) digits, capitalising the letter after each dropped one.
func validOperationID(s string, capitalizeFirst bool) string {
	var buf bytes.Buffer
	capitalize := capitalizeFirst
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i != 0 && unicode.IsDigit(r)) {
			if capitalize {
				buf.WriteRune(unicode.ToUpper(r))
				capitalize = false
			} else {
				buf.WriteRune(r)
			}
		} else {
			capitalize = true
		}
	}
	return buf.String()
}
