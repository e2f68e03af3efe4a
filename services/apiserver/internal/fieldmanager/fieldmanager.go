// Package fieldmanager gives the apiserver Kubernetes' field ownership:
// every write records in metadata.managedFields which manager set which
// fields, and server-side apply (application/apply-patch+yaml) merges a
// manager's apply configuration into the live object, refusing with a 409
// to take fields another manager owns unless forced.
//
// The work is done by apimachinery's managedfields package, the code
// kube-apiserver runs, over a type converter built from the OpenAPI v3
// models the apiserver serves (openapi.Schemas), so list and map merge
// semantics are Kubernetes'. drover has no internal version: each kind's
// hub is its own group/version, and objects are the versioned k8s.io/api
// types throughout.
package fieldmanager

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"drover.dev/apiserver/internal/registry"
)

var (
	// ErrUnknownKind is returned for a group/version/kind the registry does not serve.
	ErrUnknownKind = errors.New("fieldmanager: kind not served")
	// ErrUnsupportedSubresource is returned for a subresource the resource
	// lacks or whose body is not the resource's fields (binding, eviction).
	ErrUnsupportedSubresource = errors.New("fieldmanager: subresource does not track fields")
	// ErrNoLiveObject is returned when a subresource write comes without the
	// object it belongs to.
	ErrNoLiveObject = errors.New("fieldmanager: subresource write without a live object")
)

// ConvertFunc converts a typed object to another group/version of the same
// resource (core/v1 and events.k8s.io/v1 events, autoscaling/v1 and v2
// HPAs), returning a typed object of that version.
type ConvertFunc func(obj runtime.Object, to schema.GroupVersion) (runtime.Object, error)

// Option configures a Manager.
type Option func(*Manager)

// WithConversion lets the Manager compare an object in the versions of
// managers that wrote it through another version of the same resource.
// Without it, such entries are dropped on the next write, as Kubernetes
// drops entries of versions it no longer serves.
func WithConversion(convert ConvertFunc) Option {
	return func(m *Manager) { m.objects.convert = convert }
}

// Manager tracks managedFields and performs server-side apply for every registry kind.
type Manager struct {
	reg       *registry.Registry
	types     managedfields.TypeConverter
	objects   *objectConvertor
	defaulter runtime.ObjectDefaulter

	// managers caches one *kindManager per managerKey, built on first use.
	managers sync.Map
}

type managerKey struct {
	gvk         schema.GroupVersionKind
	subresource string
}

// kindManager is the field manager of one kind or subresource.
type kindManager struct {
	gvk schema.GroupVersionKind
	fm  *managedfields.FieldManager
	// applyGVK is the kind apply configurations must have: the resource's
	// own, or autoscaling/v1 Scale for the scale subresource.
	applyGVK schema.GroupVersionKind
	// scale is set for the scale subresource, whose managedFields are the
	// parent's spec.replicas ownership seen through a Scale.
	scale bool
}

// New builds the type converter from schemas (openapi.Schemas of the same
// registry) and checks that it knows every served kind. defaulter fills
// the defaults of an object built by apply, as decoding a request does;
// nil means none.
func New(reg *registry.Registry, schemas map[string]*spec.Schema, defaulter func(runtime.Object), opts ...Option) (*Manager, error) {
	if reg == nil || len(schemas) == 0 {
		return nil, errors.New("fieldmanager: a registry and its schemas are required")
	}
	types, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %w", err)
	}
	m := &Manager{
		reg:       reg,
		types:     types,
		objects:   newObjectConvertor(scheme.Scheme),
		defaulter: defaulterFunc(defaulter),
	}
	for _, opt := range opts {
		opt(m)
	}
	for _, res := range reg.Resources() {
		kinds := []schema.GroupVersionKind{res.GVK()}
		if _, ok := res.HasSubresource("scale"); ok {
			kinds = append(kinds, scaleGVK)
		}
		for _, gvk := range kinds {
			obj, err := newObject(gvk)
			if err != nil {
				return nil, err
			}
			if _, err := types.ObjectToTyped(obj); err != nil {
				return nil, fmt.Errorf("fieldmanager: schemas do not describe %v: %w", gvk, err)
			}
		}
	}
	return m, nil
}

// Update records the changes from live to obj by manager (live is nil on
// create) and returns obj with metadata.managedFields updated. subresource
// is "" or "status"/"scale"; gvk is always the resource's kind and live
// and obj are objects of it, also for scale. obj is modified in place;
// live is only read, though its apiVersion and kind may be filled in.
//
// As in Kubernetes, managedFields sent in obj replace live's on the main
// resource when they are valid (a single empty entry clears them), and
// are ignored on subresources. An object that exists but has no
// managedFields stays untracked until it is applied to.
func (m *Manager) Update(gvk schema.GroupVersionKind, subresource string, live, obj runtime.Object, manager string) (runtime.Object, error) {
	km, err := m.managerFor(gvk, subresource)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("fieldmanager: update of %v without an object", gvk)
	}
	if live == nil {
		if subresource != "" {
			return nil, fmt.Errorf("%w: %v %s", ErrNoLiveObject, gvk, subresource)
		}
		if live, err = newObject(gvk); err != nil {
			return nil, err
		}
	}
	var out runtime.Object
	if km.scale {
		out, err = m.updateScale(km, live, obj, manager)
	} else {
		out, err = km.fm.Update(live, obj, manager)
	}
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %v: %w", gvk, err)
	}
	return out, nil
}

// managerFor returns the cached field manager of a kind and subresource,
// building it on first use.
func (m *Manager) managerFor(gvk schema.GroupVersionKind, subresource string) (*kindManager, error) {
	key := managerKey{gvk, subresource}
	if km, ok := m.managers.Load(key); ok {
		return km.(*kindManager), nil
	}
	res, ok := m.reg.LookupKind(gvk)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownKind, gvk)
	}
	km := &kindManager{gvk: gvk, applyGVK: gvk}
	fmKind := gvk
	if subresource != "" {
		sub, ok := res.HasSubresource(subresource)
		switch {
		case ok && subresource == "scale" && sub.GVK == scaleGVK:
			km.scale, km.applyGVK, fmKind = true, scaleGVK, scaleGVK
		case !ok || sub.GVK != gvk:
			return nil, fmt.Errorf("%w: %v %s", ErrUnsupportedSubresource, gvk, subresource)
		}
	}
	// The hub is the kind's own version: there is no internal version to
	// convert through.
	fm, err := managedfields.NewDefaultFieldManager(m.types, m.objects, m.defaulter, scheme.Scheme,
		fmKind, fmKind.GroupVersion(), subresource, resetFields(m.reg, res, subresource))
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %v %s: %w", gvk, subresource, err)
	}
	km.fm = fm
	actual, _ := m.managers.LoadOrStore(key, km)
	return actual.(*kindManager), nil
}

func newObject(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %w", err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

func accessor(obj runtime.Object) (metav1.Object, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("fieldmanager: %w", err)
	}
	return acc, nil
}

type defaulterFunc func(runtime.Object)

func (f defaulterFunc) Default(obj runtime.Object) {
	if f != nil {
		f(obj)
	}
}

// ManagerFromUserAgent derives the default manager name as Kubernetes does
// when fieldManager is not given: the User-Agent up to its first '/'
// ("kubectl-client-side-apply", "helm", "Go-http-client"), without
// unprintable characters, cut to the 128 bytes a manager name may have.
func ManagerFromUserAgent(ua string) string {
	prefix, _, _ := strings.Cut(ua, "/")
	var b strings.Builder
	for _, r := range prefix {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
