// Package endpoints serves the Kubernetes REST API for every resource in the
// registry: decoding, defaulting, admission, validation and storage of
// objects, and get/list/watch from the cache.
package endpoints

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"drover.dev/apiserver/internal/allocator"
	"drover.dev/apiserver/internal/cache"
	"drover.dev/apiserver/internal/fieldmanager"
	"drover.dev/apiserver/internal/registry"
	"drover.dev/apiserver/internal/storage"
)

// MaxBodyBytes is the largest request body accepted, as in kube-apiserver.
const MaxBodyBytes = 3 * 1024 * 1024

// Hooks are the per-kind rules that live in their own packages.
type Hooks struct {
	Default              func(obj runtime.Object)
	Validate             func(obj runtime.Object) field.ErrorList
	ValidateUpdate       func(obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
	Table                func(gvk schema.GroupVersionKind, objs []runtime.Object, noHeaders bool, now time.Time) (*metav1.Table, error)
}

// Config wires the API to its storage.
type Config struct {
	Registry  *registry.Registry
	Store     *storage.Store
	Cache     *cache.Cache
	Allocator *allocator.Allocator
	// FieldManager records managedFields and performs server-side apply;
	// nil leaves managedFields as stored and refuses apply patches.
	FieldManager *fieldmanager.Manager
	Hooks        Hooks
	Logger       *zap.Logger
	// Stopping is closed when the server shuts down; open watches end.
	Stopping <-chan struct{}
	// MinWatchTimeout is the shortest server-chosen watch duration (Kubernetes: 30 minutes).
	MinWatchTimeout time.Duration
	// BookmarkInterval is how often idle watches get a bookmark.
	BookmarkInterval time.Duration
	// Kubelets reaches kubelets' APIs (pods/log); nil answers 503.
	Kubelets *http.Client
	// EventTTL is how long an event is kept after its last write (0: for good).
	EventTTL time.Duration
}

// API serves resource requests.
type API struct {
	cfg Config
	lg  *zap.Logger
}

// New returns the resource API handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MinWatchTimeout == 0 {
		cfg.MinWatchTimeout = 30 * time.Minute
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = time.Minute
	}
	return &API{cfg: cfg, lg: cfg.Logger}
}

// request carries what every handler needs.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	ctx  context.Context
	info requestInfo
	res  *registry.Resource
	// storageRes is the resource whose keys hold the objects (events for events.k8s.io).
	storageRes *registry.Resource
	// applied is set when a server-side apply produced the object, which
	// then carries its managedFields already.
	applied bool
}

func (q *request) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: q.res.Group, Resource: q.res.Resource}
}

func (q *request) key(name string) string {
	return q.api().cfg.Store.Key(q.storageRes.Resource, q.info.Namespace, name)
}

func (q *request) api() *API { return q.r.Context().Value(apiKey{}).(*API) }

type apiKey struct{}

// Info describes a request for logging and metrics.
type Info struct {
	Verb, Resource, Subresource, Namespace string
}

// RequestInfo parses a resource request for logs and metrics; ok is false for other paths.
func RequestInfo(r *http.Request) (Info, bool) {
	info, ok := parseRequestInfo(r)
	if !ok {
		return Info{}, false
	}
	return Info{Verb: info.Verb, Resource: info.Resource, Subresource: info.Subresource, Namespace: info.Namespace}, true
}

// ServeHTTP dispatches a resource request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequestInfo(r)
	if !ok {
		writeStatus(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	res, ok := a.cfg.Registry.Lookup(info.GroupVersion.WithResource(info.Resource))
	if !ok {
		writeStatus(w, r, notFoundPath(r))
		return
	}
	if !res.Namespaced && info.Namespace != "" {
		writeStatus(w, r, notFoundPath(r))
		return
	}
	if res.Namespaced && info.Namespace == "" && info.Name != "" {
		writeStatus(w, r, notFoundPath(r))
		return
	}
	storageRes, ok := a.cfg.Registry.Lookup(res.Storage)
	if !ok {
		writeStatus(w, r, apierrors.NewInternalError(fmt.Errorf("no storage for %v", res.GroupVersionResource)))
		return
	}
	ctx := context.WithValue(r.Context(), apiKey{}, a)
	r = r.WithContext(ctx)
	q := &request{w: w, r: r, ctx: ctx, info: info, res: res, storageRes: storageRes}

	if info.Subresource != "" {
		a.serveSubresource(q)
		return
	}
	if res.Resource == "bindings" {
		// core/v1 bindings is create-only: POST namespaces/<ns>/bindings.
		if info.Verb != "create" || info.Name != "" {
			writeStatus(w, r, methodNotAllowed(q))
			return
		}
		a.createBinding(q, "")
		return
	}
	if !allowed(res.Verbs, info.Verb) {
		writeStatus(w, r, methodNotAllowed(q))
		return
	}
	if info.Name == "" && (info.Verb == "update" || info.Verb == "patch") {
		writeStatus(w, r, methodNotAllowed(q))
		return
	}
	switch info.Verb {
	case "get":
		a.get(q)
	case "list":
		a.list(q)
	case "watch":
		a.watch(q)
	case "create":
		if info.Name != "" {
			writeStatus(w, r, methodNotAllowed(q))
			return
		}
		a.create(q)
	case "update":
		a.update(q)
	case "patch":
		a.patch(q)
	case "delete":
		a.delete(q)
	case "deletecollection":
		a.deleteCollection(q)
	default:
		writeStatus(w, r, methodNotAllowed(q))
	}
}

func allowed(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

func methodNotAllowed(q *request) error {
	return apierrors.NewMethodNotSupported(q.groupResource(), q.info.Verb)
}

func notFoundPath(r *http.Request) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: "404 page not found"}}},
	}}
}
