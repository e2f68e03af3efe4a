// Package registry describes every resource the apiserver serves: its
// group/version/kind, scope, short names, subresources and Go types. The
// table drives discovery, OpenAPI, routing and storage, so a resource exists
// in exactly one place.
package registry

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// Verbs Kubernetes advertises in discovery for a full resource.
var (
	AllVerbs         = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	NamespaceVerbs   = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	SubresourceVerbs = []string{"get", "patch", "update"}
)

// Subresource is a path below an object, such as pods/status or deployments/scale.
type Subresource struct {
	Name string
	// Kind is the body type; for status it is the parent kind.
	GVK   schema.GroupVersionKind
	Verbs []string
}

// Resource is one REST resource in one group/version.
type Resource struct {
	schema.GroupVersionResource
	Kind         string
	SingularName string
	Namespaced   bool
	ShortNames   []string
	Categories   []string
	Verbs        []string
	Subresources []Subresource

	// Storage is the group/version/resource whose etcd keys hold this
	// resource's objects; for most resources it is the resource itself.
	// autoscaling/v1 HPAs are stored as autoscaling/v2, events.k8s.io/v1
	// events as core/v1 events.
	Storage schema.GroupVersionResource
	// StorageKind is the kind stored under Storage.
	StorageKind string
}

// GVK is the resource's group/version/kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// StorageGVK is the kind objects are stored as.
func (r *Resource) StorageGVK() schema.GroupVersionKind {
	return r.Storage.GroupVersion().WithKind(r.StorageKind)
}

// StoredAsSelf reports whether objects are stored in this resource's own version.
func (r *Resource) StoredAsSelf() bool {
	return r.Storage == r.GroupVersionResource
}

// HasSubresource reports whether name is one of the resource's subresources.
func (r *Resource) HasSubresource(name string) (*Subresource, bool) {
	for i := range r.Subresources {
		if r.Subresources[i].Name == name {
			return &r.Subresources[i], true
		}
	}
	return nil, false
}

// New returns an empty object of the resource's kind.
func (r *Resource) New() runtime.Object {
	obj, err := scheme.Scheme.New(r.GVK())
	if err != nil {
		panic(fmt.Sprintf("registry: kind %v not in scheme: %v", r.GVK(), err))
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	return obj
}

// NewList returns an empty list of the resource's kind.
func (r *Resource) NewList() runtime.Object {
	gvk := r.GroupVersion().WithKind(r.Kind + "List")
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		panic(fmt.Sprintf("registry: kind %v not in scheme: %v", gvk, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj
}

// Registry is the set of served resources.
type Registry struct {
	resources []*Resource
	byGVR     map[schema.GroupVersionResource]*Resource
	byGVK     map[schema.GroupVersionKind]*Resource
}

// Resources returns every resource in a stable order (group, version, resource).
func (r *Registry) Resources() []*Resource { return r.resources }

// Lookup finds a resource by group/version/resource.
func (r *Registry) Lookup(gvr schema.GroupVersionResource) (*Resource, bool) {
	res, ok := r.byGVR[gvr]
	return res, ok
}

// LookupKind finds a resource by group/version/kind.
func (r *Registry) LookupKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	res, ok := r.byGVK[gvk]
	return res, ok
}

// GroupVersions returns every served group/version, core first, then by
// group in the order Kubernetes lists them, preferred version first.
func (r *Registry) GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, res := range r.resources {
		gv := res.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// Groups returns the named API groups (not core) with their versions, preferred first.
func (r *Registry) Groups() []Group {
	var groups []Group
	idx := map[string]int{}
	for _, gv := range r.GroupVersions() {
		if gv.Group == "" {
			continue
		}
		i, ok := idx[gv.Group]
		if !ok {
			i = len(groups)
			idx[gv.Group] = i
			groups = append(groups, Group{Name: gv.Group})
		}
		groups[i].Versions = append(groups[i].Versions, gv.Version)
	}
	return groups
}

// Group is an API group and its versions, the preferred version first.
type Group struct {
	Name     string
	Versions []string
}

// ForGroupVersion returns the resources of one group/version, sorted by name.
func (r *Registry) ForGroupVersion(gv schema.GroupVersion) []*Resource {
	var out []*Resource
	for _, res := range r.resources {
		if res.GroupVersion() == gv {
			out = append(out, res)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// New builds a registry from resource definitions, filling defaults
// (storage = self, verbs = all) and refusing duplicates.
func New(defs []Resource) (*Registry, error) {
	reg := &Registry{
		byGVR: map[schema.GroupVersionResource]*Resource{},
		byGVK: map[schema.GroupVersionKind]*Resource{},
	}
	for i := range defs {
		res := defs[i]
		if res.Storage.Resource == "" {
			res.Storage = res.GroupVersionResource
			res.StorageKind = res.Kind
		}
		if res.Verbs == nil {
			res.Verbs = AllVerbs
		}
		for j := range res.Subresources {
			sub := &res.Subresources[j]
			if sub.GVK.Kind == "" {
				sub.GVK = res.GVK()
			}
			if sub.Verbs == nil {
				sub.Verbs = SubresourceVerbs
			}
		}
		if _, dup := reg.byGVR[res.GroupVersionResource]; dup {
			return nil, fmt.Errorf("registry: duplicate resource %v", res.GroupVersionResource)
		}
		if _, err := scheme.Scheme.New(res.GVK()); err != nil {
			return nil, fmt.Errorf("registry: %v: %w", res.GVK(), err)
		}
		p := &res
		reg.resources = append(reg.resources, p)
		reg.byGVR[res.GroupVersionResource] = p
		reg.byGVK[res.GVK()] = p
	}
	return reg, nil
}
