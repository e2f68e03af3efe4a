// Package garbagecollector deletes objects whose owners are gone. It keeps a
// graph of ownerReferences fed by informers on every deletable resource and
// implements the three propagation policies: background (dependents deleted
// after the owner), foreground (owner kept, with the foregroundDeletion
// finalizer, until its blocking dependents are gone) and orphan (dependents'
// references removed, then the orphan finalizer).
package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "garbagecollector"

// ErrOwnerBlocked is returned while a foreground deletion waits.
var ErrOwnerBlocked = errors.New("garbagecollector: owner waits for dependents")

// ignoredResources are never collected (as on Kubernetes).
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// Controller is the garbage collector.
type Controller struct {
	metadata metadata.Interface
	typed    informers.SharedInformerFactory
	discover func() ([]*metav1.APIResourceList, error)
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	lg       *zap.Logger
	period   time.Duration

	monitorsMu sync.Mutex
	monitors   map[schema.GroupVersionResource]*monitor

	mu    sync.Mutex
	nodes map[types.UID]*node

	absentMu sync.Mutex
	absent   map[types.UID]bool

	attemptToDelete workqueue.TypedRateLimitingInterface[string]
	attemptToOrphan workqueue.TypedRateLimitingInterface[string]

	// deleteHandler and orphanHandler are fields so that tests can replace them.
	deleteHandler func(ctx context.Context, uid string) error
	orphanHandler func(ctx context.Context, uid string) error
}

// DiscoveryPeriod is how often the deletable resources are discovered
// again, so that new API resources get monitors (as on Kubernetes).
const DiscoveryPeriod = 30 * time.Second

// monitor feeds the graph from one resource's informer.
type monitor struct {
	gvk      schema.GroupVersionKind
	informer cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
	// stop ends an informer the collector runs itself (metadata-only);
	// shared typed informers belong to their factory. nil until started.
	stop    chan struct{}
	ownInf  bool
	running bool
}

// New discovers the deletable resources and watches each: through the typed
// shared informer when one exists (sharing its cache), else metadata-only.
func New(md metadata.Interface, disc discovery.DiscoveryInterface, typed informers.SharedInformerFactory, lg *zap.Logger) (*Controller, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	c := &Controller{
		metadata:        md,
		typed:           typed,
		discover:        disc.ServerPreferredResources,
		mapper:          restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		lg:              lg.With(zap.String("controller", Name)),
		monitors:        map[schema.GroupVersionResource]*monitor{},
		nodes:           map[types.UID]*node{},
		absent:          map[types.UID]bool{},
		attemptToDelete: controller.NewQueue(Name + "_attempt_to_delete"),
		attemptToOrphan: controller.NewQueue(Name + "_attempt_to_orphan"),
		period:          DiscoveryPeriod,
	}
	c.deleteHandler = c.attemptToDeleteItem
	c.orphanHandler = c.attemptToOrphanItem
	resources, err := c.deletableResources()
	if err != nil && len(resources) == 0 {
		return nil, fmt.Errorf("garbagecollector: discovery: %w", err)
	}
	c.syncMonitors(resources, err == nil)
	return c, nil
}

// deletableResources lists the resources the collector watches. On a
// partial discovery failure it returns what was found and the error.
func (c *Controller) deletableResources() (map[schema.GroupVersionResource]schema.GroupVersionKind, error) {
	lists, err := c.discover()
	out := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "watch", "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if ignoredResources[gvr.GroupResource()] {
				continue
			}
			out[gvr] = gv.WithKind(r.Kind)
		}
	}
	return out, err
}

// syncMonitors adds a monitor for each new resource and, when complete is
// set (discovery fully succeeded), drops the monitors of vanished ones. It
// reports whether anything changed. New monitors are not started here.
func (c *Controller) syncMonitors(resources map[schema.GroupVersionResource]schema.GroupVersionKind, complete bool) bool {
	c.monitorsMu.Lock()
	defer c.monitorsMu.Unlock()
	changed := false
	for gvr, gvk := range resources {
		if m, ok := c.monitors[gvr]; ok && m.gvk == gvk {
			continue
		} else if ok {
			c.dropMonitor(gvr, m)
		}
		m := &monitor{gvk: gvk}
		if gi, err := c.typed.ForResource(gvr); err == nil {
			m.informer = gi.Informer()
		} else {
			m.informer = metadatainformer.NewFilteredMetadataInformer(c.metadata, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
			_ = m.informer.SetTransform(stripManagedFields)
			m.ownInf = true
		}
		reg, err := m.informer.AddEventHandler(c.handlers(gvk))
		if err != nil {
			c.lg.Warn("cannot watch resource", zap.Stringer("resource", gvr), zap.Error(err))
			continue
		}
		m.reg = reg
		c.monitors[gvr] = m
		changed = true
		c.lg.Debug("monitoring resource", zap.Stringer("resource", gvr))
	}
	if complete {
		for gvr, m := range c.monitors {
			if _, ok := resources[gvr]; !ok {
				c.dropMonitor(gvr, m)
				changed = true
			}
		}
	}
	return changed
}

// dropMonitor stops feeding the graph from gvr. Called with monitorsMu held.
func (c *Controller) dropMonitor(gvr schema.GroupVersionResource, m *monitor) {
	if m.reg != nil {
		_ = m.informer.RemoveEventHandler(m.reg)
	}
	if m.stop != nil {
		close(m.stop)
	}
	delete(c.monitors, gvr)
	c.lg.Info("stopped monitoring resource", zap.Stringer("resource", gvr))
}

// startMonitors runs the informers not running yet and returns their
// HasSynced functions.
func (c *Controller) startMonitors(ctx context.Context) []cache.InformerSynced {
	c.monitorsMu.Lock()
	defer c.monitorsMu.Unlock()
	var synced []cache.InformerSynced
	for _, m := range c.monitors {
		if m.running {
			continue
		}
		m.running = true
		synced = append(synced, m.informer.HasSynced)
		if m.ownInf {
			m.stop = make(chan struct{})
			stop := m.stop
			go func() {
				// Ends with the controller or when the monitor is dropped.
				merged := make(chan struct{})
				go func() {
					select {
					case <-ctx.Done():
					case <-stop:
					}
					close(merged)
				}()
				m.informer.Run(merged)
			}()
		}
	}
	// Typed informers created since the factory started need starting.
	c.typed.Start(ctx.Done())
	return synced
}

// resync discovers the deletable resources again and starts monitors for
// new ones; the mapper forgets what it cached so new kinds resolve.
func (c *Controller) resync(ctx context.Context) {
	resources, err := c.deletableResources()
	if err != nil {
		c.lg.Warn("discovery failed, keeping monitors", zap.Error(err))
		if len(resources) == 0 {
			return
		}
	}
	if !c.syncMonitors(resources, err == nil) {
		return
	}
	c.mapper.Reset()
	synced := c.startMonitors(ctx)
	c.lg.Info("resources changed, monitors updated", zap.Int("new", len(synced)))
	wctx, cancel := context.WithTimeout(ctx, c.period)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) && ctx.Err() == nil {
		c.lg.Warn("new monitors not synced yet")
	}
}

func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (c *Controller) handlers(gvk schema.GroupVersionKind) cache.ResourceEventHandler {
	send := func(typ eventType, obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		c.mu.Lock()
		c.processEvent(event{typ: typ, obj: m, gvk: gvk})
		c.mu.Unlock()
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { send(addEvent, obj) },
		UpdateFunc: func(old, cur any) {
			o, err1 := meta.Accessor(old)
			n, err2 := meta.Accessor(cur)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			send(updateEvent, cur)
		},
		DeleteFunc: func(obj any) { send(deleteEvent, obj) },
	}
}

// Run waits for every monitor to sync, then works both queues until ctx
// ends, rediscovering resources every period.
func (c *Controller) Run(ctx context.Context, workers int) error {
	synced := c.startMonitors(ctx)
	var wg sync.WaitGroup
	var errDel, errOrph error
	wg.Go(func() {
		errDel = controller.RunWorkers(ctx, Name, c.lg, c.attemptToDelete, workers, c.deleteHandler, synced...)
	})
	wg.Go(func() {
		errOrph = controller.RunWorkers(ctx, Name+"-orphan", c.lg, c.attemptToOrphan, workers, c.orphanHandler, synced...)
	})
	wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), synced...) {
			wait.UntilWithContext(ctx, c.resync, c.period)
		}
	})
	wg.Wait()
	return errors.Join(errDel, errOrph)
}

// snapshot is a node's state copied out of the graph.
type snapshot struct {
	ref                objectRef
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	dependents         []objectRef
	// dependentDeleting: some dependent is itself deleting its dependents.
	dependentDeleting bool
	blocking          []objectRef
	blockingDeleting  []bool
}

func (c *Controller) snapshot(uid types.UID) (snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[uid]
	if n == nil {
		return snapshot{}, false
	}
	s := snapshot{ref: n.ref, virtual: n.virtual, beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents}
	for _, d := range n.dependents {
		s.dependents = append(s.dependents, d.ref)
		s.dependentDeleting = s.dependentDeleting || d.deletingDependents
	}
	for _, d := range n.blocking() {
		s.blocking = append(s.blocking, d.ref)
		s.blockingDeleting = append(s.blockingDeleting, d.deletingDependents)
	}
	return s, true
}

// resource maps ref to its resource and scope.
func (c *Controller) resource(ref objectRef) (schema.GroupVersionResource, bool, error) {
	gvk := ref.gvk()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.mapper.Reset()
		if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return schema.GroupVersionResource{}, false, err
		}
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func (c *Controller) client(ref objectRef) (metadata.ResourceInterface, error) {
	gvr, namespaced, err := c.resource(ref)
	if err != nil {
		return nil, err
	}
	if namespaced {
		return c.metadata.Resource(gvr).Namespace(ref.Namespace), nil
	}
	return c.metadata.Resource(gvr), nil
}

// get reads ref's object; nil without error when it no longer exists.
func (c *Controller) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, metadata.ResourceInterface, error) {
	rc, err := c.client(ref)
	if err != nil {
		return nil, nil, err
	}
	obj, err := rc.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, rc, nil
	}
	if err != nil {
		return nil, rc, err
	}
	if obj.UID != ref.UID {
		return nil, rc, nil
	}
	return obj, rc, nil
}

// forget removes an object a lookup found gone, as its delete event would.
func (c *Controller) forget(ref objectRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[ref.UID]; n != nil {
		c.removeNode(n)
	}
}

func (c *Controller) attemptToDeleteItem(ctx context.Context, key string) error {
	s, ok := c.snapshot(types.UID(key))
	if !ok {
		return nil
	}
	if !s.virtual && s.beingDeleted && !s.deletingDependents {
		return nil
	}
	latest, rc, err := c.get(ctx, s.ref)
	if err != nil {
		return err
	}
	if latest == nil {
		c.markAbsent(s.ref.UID)
		c.forget(s.ref)
		return nil
	}
	if s.virtual {
		// It exists; its informer will make it a real node.
		return nil
	}
	if latest.DeletionTimestamp != nil && hasFinalizer(latest, metav1.FinalizerDeleteDependents) {
		return c.processDeletingDependents(ctx, s, latest, rc)
	}
	owners := latest.GetOwnerReferences()
	if len(owners) == 0 {
		return nil
	}
	var solid, dangling, waiting []metav1.OwnerReference
	for _, o := range owners {
		owner, err := c.ownerState(ctx, o, latest.Namespace)
		if err != nil {
			return err
		}
		switch {
		case owner == nil:
			dangling = append(dangling, o)
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, o)
		default:
			solid = append(solid, o)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling)+len(waiting) == 0 {
			return nil
		}
		drop := map[types.UID]bool{}
		for _, o := range slices.Concat(dangling, waiting) {
			drop[o.UID] = true
		}
		keep := slices.DeleteFunc(slices.Clone(owners), func(o metav1.OwnerReference) bool { return drop[o.UID] })
		return c.patchMeta(ctx, rc, latest, map[string]any{"ownerReferences": keep})
	case len(waiting) > 0 && len(s.dependents) > 0:
		// Its own dependents must go first for the waiting owner's sake.
		if s.dependentDeleting {
			// A dependent waits in the foreground too: likely a cycle
			// (A owns B owns A), where each would wait for the other
			// forever. Stop blocking the owners, as Kubernetes does.
			if err := c.unblockOwners(ctx, rc, latest); err != nil {
				return err
			}
		}
		return c.delete(ctx, rc, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return c.delete(ctx, rc, latest, policy)
	}
}

func (c *Controller) processDeletingDependents(ctx context.Context, s snapshot, latest *metav1.PartialObjectMetadata, rc metadata.ResourceInterface) error {
	if len(s.blocking) == 0 {
		fins := slices.DeleteFunc(slices.Clone(latest.Finalizers), func(f string) bool { return f == metav1.FinalizerDeleteDependents })
		return c.patchMeta(ctx, rc, latest, map[string]any{"finalizers": fins})
	}
	for i, d := range s.blocking {
		if !s.blockingDeleting[i] {
			c.attemptToDelete.Add(string(d.UID))
		}
	}
	return nil
}

// unblockOwners clears blockOwnerDeletion on obj's ownerReferences.
func (c *Controller) unblockOwners(ctx context.Context, rc metadata.ResourceInterface, obj *metav1.PartialObjectMetadata) error {
	owners := slices.Clone(obj.OwnerReferences)
	changed := false
	for i := range owners {
		if blocks(owners[i]) {
			owners[i].BlockOwnerDeletion = new(false)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	c.lg.Info("unblocking owners to break a foreground deletion cycle", zap.String("kind", obj.Kind),
		zap.String("namespace", obj.Namespace), zap.String("name", obj.Name))
	return c.patchMeta(ctx, rc, obj, map[string]any{"ownerReferences": owners})
}

// ownerState returns the owner's metadata, or nil when it is gone.
func (c *Controller) ownerState(ctx context.Context, o metav1.OwnerReference, namespace string) (*metav1.PartialObjectMetadata, error) {
	if c.isAbsent(o.UID) {
		return nil, nil
	}
	c.mu.Lock()
	n := c.nodes[o.UID]
	var known *metav1.PartialObjectMetadata
	if n != nil && !n.virtual {
		known = &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: n.ref.Name, Namespace: n.ref.Namespace, UID: n.ref.UID}}
		if n.beingDeleted {
			now := metav1.Now()
			known.DeletionTimestamp = &now
			if n.deletingDependents {
				known.Finalizers = []string{metav1.FinalizerDeleteDependents}
			}
		}
	}
	c.mu.Unlock()
	if known != nil {
		return known, nil
	}
	ref := objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Namespace: namespace}
	owner, _, err := c.get(ctx, ref)
	if err != nil {
		if meta.IsNoMatchError(err) {
			// An owner of an unknown kind cannot exist.
			return nil, nil
		}
		return nil, err
	}
	if owner == nil {
		c.markAbsent(o.UID)
	}
	return owner, nil
}

func (c *Controller) isAbsent(uid types.UID) bool {
	c.absentMu.Lock()
	defer c.absentMu.Unlock()
	return c.absent[uid]
}

func (c *Controller) markAbsent(uid types.UID) {
	c.absentMu.Lock()
	defer c.absentMu.Unlock()
	if len(c.absent) > 10000 {
		clear(c.absent)
	}
	c.absent[uid] = true
}

// patchMeta merge-patches metadata fields of obj, guarded by its uid and
// resourceVersion.
func (c *Controller) patchMeta(ctx context.Context, rc metadata.ResourceInterface, obj *metav1.PartialObjectMetadata, fields map[string]any) error {
	fields["uid"] = obj.UID
	fields["resourceVersion"] = obj.ResourceVersion
	patch, err := json.Marshal(map[string]any{"metadata": fields})
	if err != nil {
		return err
	}
	_, err = rc.Patch(ctx, obj.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) delete(ctx context.Context, rc metadata.ResourceInterface, obj *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid := obj.UID
	err := rc.Delete(ctx, obj.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err == nil {
		c.lg.Debug("deleted dependent", zap.String("kind", obj.Kind), zap.String("namespace", obj.Namespace), zap.String("name", obj.Name), zap.String("policy", string(policy)))
	}
	return err
}

// attemptToOrphanItem removes the owner's reference from every dependent,
// then the owner's orphan finalizer.
func (c *Controller) attemptToOrphanItem(ctx context.Context, key string) error {
	s, ok := c.snapshot(types.UID(key))
	if !ok {
		return nil
	}
	var errs []error
	for _, d := range s.dependents {
		dep, rc, err := c.get(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if dep == nil {
			continue
		}
		keep := slices.DeleteFunc(slices.Clone(dep.OwnerReferences), func(o metav1.OwnerReference) bool { return o.UID == s.ref.UID })
		if len(keep) == len(dep.OwnerReferences) {
			continue
		}
		if err := c.patchMeta(ctx, rc, dep, map[string]any{"ownerReferences": keep}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	owner, rc, err := c.get(ctx, s.ref)
	if err != nil || owner == nil {
		return err
	}
	if !hasFinalizer(owner, metav1.FinalizerOrphanDependents) {
		return nil
	}
	fins := slices.DeleteFunc(slices.Clone(owner.Finalizers), func(f string) bool { return f == metav1.FinalizerOrphanDependents })
	return c.patchMeta(ctx, rc, owner, map[string]any{"finalizers": fins})
}
