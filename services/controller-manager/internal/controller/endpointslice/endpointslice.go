// Package endpointslice writes EndpointSlices for Services with selectors:
// one endpoint per pod with ready/serving/terminating conditions, grouped by
// port set, at most --max-endpoints-per-slice per slice, changing as few
// slices as it can.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "endpointslice"

// ManagedBy is the value of the managed-by label on the slices it owns.
const ManagedBy = "endpointslice-controller.k8s.io"

// ErrStaleCache means the slice cache has not caught up with our writes.
var ErrStaleCache = errors.New("endpointslice: slice cache is stale")

const headlessLabel = "service.kubernetes.io/headless"

var serviceKind = v1.SchemeGroupVersion.WithKind("Service")

// Controller is the EndpointSlice controller.
type Controller struct {
	client      kubernetes.Interface
	svcLister   corelisters.ServiceLister
	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	sliceLister discoverylisters.EndpointSliceLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	lg          *zap.Logger
	maxPerSlice int
	tracker     *tracker

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the EndpointSlice controller.
func New(client kubernetes.Interface, svcInformer coreinformers.ServiceInformer, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer, sliceInformer discoveryinformers.EndpointSliceInformer, maxPerSlice int, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	c := &Controller{
		client: client, svcLister: svcInformer.Lister(), podLister: podInformer.Lister(), nodeLister: nodeInformer.Lister(),
		sliceLister: sliceInformer.Lister(),
		synced: []cache.InformerSynced{svcInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, sliceInformer.Informer().HasSynced},
		queue: controller.NewQueue(Name), lg: lg.With(zap.String("controller", Name)),
		maxPerSlice: maxPerSlice, tracker: newTracker(),
	}
	c.syncHandler = c.sync
	enqueue := func(obj any) { controller.Enqueue(c.queue, obj) }
	_, _ = svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(controller.PodHandlers(c.queue, c.svcLister))
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*discovery.EndpointSlice)
		if !ok || s.Labels[discovery.LabelManagedBy] != ManagedBy || s.Labels[discovery.LabelServiceName] == "" {
			return
		}
		// Our own writes need no sync once the cache shows them.
		if c.tracker.expected(s) {
			return
		}
		c.queue.Add(s.Namespace + "/" + s.Labels[discovery.LabelServiceName])
	}
	_, _ = sliceInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, obj any) { onSlice(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*discovery.EndpointSlice); ok {
				c.tracker.gone(s)
				onSlice(s)
			}
		},
	})
	return c
}

// Run waits for the caches, then syncs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controller.RunWorkers(ctx, Name, c.lg, c.queue, workers, c.syncHandler, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The garbage collector removes the slices with the service.
		c.tracker.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil {
		return nil
	}
	sel := labels.SelectorFromSet(labels.Set{discovery.LabelServiceName: name, discovery.LabelManagedBy: ManagedBy})
	existing, err := c.sliceLister.EndpointSlices(ns).List(sel)
	if err != nil {
		return err
	}
	existing = slices.DeleteFunc(slices.Clone(existing), func(s *discovery.EndpointSlice) bool { return s.DeletionTimestamp != nil })
	if c.tracker.stale(key, existing) {
		return fmt.Errorf("%w: %s", ErrStaleCache, key)
	}
	pods, err := c.podLister.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	plan := reconcile(svc, c.desired(svc, pods), existing, c.maxPerSlice)
	return c.apply(ctx, key, svc, plan)
}

// group is the endpoints sharing one port set.
type group struct {
	ports     []discovery.EndpointPort
	endpoints map[string]discovery.Endpoint // by pod uid
}

func (c *Controller) desired(svc *v1.Service, pods []*v1.Pod) map[string]*group {
	groups := map[string]*group{}
	for _, p := range pods {
		if !controller.ShouldPodBeInEndpoints(p, true) {
			continue
		}
		var ports []discovery.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := controller.FindPort(p, sp)
			if err != nil {
				continue
			}
			ports = append(ports, discovery.EndpointPort{Name: ptr(sp.Name), Port: ptr(n), Protocol: ptr(sp.Protocol), AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		k := portsKey(ports)
		g := groups[k]
		if g == nil {
			g = &group{ports: ports, endpoints: map[string]discovery.Endpoint{}}
			groups[k] = g
		}
		ready := controller.IsPodReady(p)
		terminating := p.DeletionTimestamp != nil
		ep := discovery.Endpoint{
			Addresses: []string{p.Status.PodIP},
			Conditions: discovery.EndpointConditions{
				Ready:       ptr((ready || svc.Spec.PublishNotReadyAddresses) && !terminating),
				Serving:     ptr(ready || svc.Spec.PublishNotReadyAddresses),
				Terminating: ptr(terminating),
			},
			TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if h := controller.Hostname(p, svc); h != "" {
			ep.Hostname = &h
		}
		if p.Spec.NodeName != "" {
			ep.NodeName = ptr(p.Spec.NodeName)
			if n, err := c.nodeLister.Get(p.Spec.NodeName); err == nil {
				if z, ok := n.Labels[v1.LabelTopologyZone]; ok {
					ep.Zone = &z
				}
			}
		}
		g.endpoints[string(p.UID)] = ep
	}
	return groups
}

func portsKey(ports []discovery.EndpointPort) string {
	keys := make([]string, len(ports))
	for i, p := range ports {
		keys[i] = fmt.Sprintf("%s/%d/%s", deref(p.Name), deref(p.Port), deref(p.Protocol))
	}
	slices.Sort(keys)
	return strings.Join(keys, ";")
}

// plan is what reconcile decided.
type plan struct {
	create, update []*discovery.EndpointSlice
	remove         []*discovery.EndpointSlice
}

func endpointKey(ep discovery.Endpoint) string {
	if ep.TargetRef != nil {
		return string(ep.TargetRef.UID)
	}
	return strings.Join(ep.Addresses, ",")
}

// reconcile keeps endpoints in the slices they are in, drops the ones no
// longer wanted, fills free room before making new slices, and removes
// slices left empty (keeping one placeholder when there is nothing at all).
func reconcile(svc *v1.Service, groups map[string]*group, existing []*discovery.EndpointSlice, max int) plan {
	var p plan
	byGroup := map[string][]*discovery.EndpointSlice{}
	for _, s := range existing {
		k := portsKey(s.Ports)
		if _, ok := groups[k]; !ok || s.AddressType != discovery.AddressTypeIPv4 {
			p.remove = append(p.remove, s)
			continue
		}
		byGroup[k] = append(byGroup[k], s)
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		placed := map[string]bool{}
		var open []*discovery.EndpointSlice
		changed := map[*discovery.EndpointSlice]bool{}
		for _, s := range byGroup[k] {
			cp := s.DeepCopy()
			cp.Endpoints = nil
			for _, ep := range s.Endpoints {
				key := endpointKey(ep)
				want, ok := g.endpoints[key]
				if !ok || placed[key] {
					continue
				}
				placed[key] = true
				cp.Endpoints = append(cp.Endpoints, want)
			}
			if !apiequality.Semantic.DeepEqual(cp.Endpoints, s.Endpoints) || !sliceMetaOK(svc, s) {
				changed[cp] = true
			}
			setSliceMeta(svc, cp)
			open = append(open, cp)
		}
		var pending []discovery.Endpoint
		for _, key := range slices.Sorted(maps.Keys(g.endpoints)) {
			if !placed[key] {
				pending = append(pending, g.endpoints[key])
			}
		}
		for _, s := range open {
			room := max - len(s.Endpoints)
			if room <= 0 || len(pending) == 0 {
				continue
			}
			n := min(room, len(pending))
			s.Endpoints = append(s.Endpoints, pending[:n]...)
			pending = pending[n:]
			changed[s] = true
		}
		for len(pending) > 0 {
			n := min(max, len(pending))
			s := newSlice(svc, g.ports)
			s.Endpoints = pending[:n]
			pending = pending[n:]
			p.create = append(p.create, s)
		}
		for _, s := range open {
			if len(s.Endpoints) == 0 {
				p.remove = append(p.remove, s)
			} else if changed[s] {
				p.update = append(p.update, s)
			}
		}
	}
	if len(groups) == 0 {
		// Kubernetes keeps one empty slice for a service without endpoints.
		var keep *discovery.EndpointSlice
		for _, s := range p.remove {
			if keep == nil && len(s.Ports) == 0 && s.AddressType == discovery.AddressTypeIPv4 {
				keep = s
			}
		}
		if keep != nil {
			p.remove = slices.DeleteFunc(p.remove, func(s *discovery.EndpointSlice) bool { return s == keep })
			if len(keep.Endpoints) > 0 || !sliceMetaOK(svc, keep) {
				cp := keep.DeepCopy()
				cp.Endpoints = nil
				setSliceMeta(svc, cp)
				p.update = append(p.update, cp)
			}
		} else {
			p.create = append(p.create, newSlice(svc, nil))
		}
	}
	return p
}

func newSlice(svc *v1.Service, ports []discovery.EndpointPort) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			OwnerReferences: []metav1.OwnerReference{*controller.NewControllerRef(svc, serviceKind)},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       ports,
	}
	setSliceMeta(svc, s)
	return s
}

func wantLabels(svc *v1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k == discovery.LabelServiceName || k == discovery.LabelManagedBy || k == headlessLabel {
			continue
		}
		l[k] = v
	}
	l[discovery.LabelServiceName] = svc.Name
	l[discovery.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		l[headlessLabel] = ""
	}
	return l
}

func sliceMetaOK(svc *v1.Service, s *discovery.EndpointSlice) bool {
	return maps.Equal(s.Labels, wantLabels(svc))
}

func setSliceMeta(svc *v1.Service, s *discovery.EndpointSlice) { s.Labels = wantLabels(svc) }

func (c *Controller) apply(ctx context.Context, key string, svc *v1.Service, p plan) error {
	slicesAPI := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, s := range p.create {
		created, err := slicesAPI.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			if apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
				return nil
			}
			errs = append(errs, err)
			continue
		}
		c.tracker.wrote(key, "", created)
	}
	for _, s := range p.update {
		updated, err := slicesAPI.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.tracker.wrote(key, s.ResourceVersion, updated)
	}
	for _, s := range p.remove {
		err := slicesAPI.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		c.tracker.deleted(key, s)
	}
	return errors.Join(errs...)
}

// tracker remembers, per service, the slice versions this controller
// wrote, so that a sync on a cache that has not seen them yet waits instead
// of writing duplicates, and so that the watch events of its own writes do
// not queue the service again. It goes by resourceVersion, not generation:
// a generation that an apiserver does not bump on update would make a
// stale cached slice look current (and hide other writers' changes), and a
// sync that need not touch that slice would then place its endpoints a
// second time in another slice and report success.
type tracker struct {
	mu       sync.Mutex
	services map[string]map[types.UID]write
}

// write is one write of a slice: the version it replaced ("" for a create)
// and the version it made ("" for a delete).
type write struct {
	from, to string
	at       time.Time
}

// trackTimeout bounds how long a write the cache has not shown holds the
// service's syncs back: a slice created and deleted by someone else before
// the watch saw it would otherwise look stale forever.
const trackTimeout = time.Minute

func newTracker() *tracker { return &tracker{services: map[string]map[types.UID]write{}} }

func (t *tracker) record(key string, uid types.UID, w write) {
	w.at = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.services[key] == nil {
		t.services[key] = map[types.UID]write{}
	}
	t.services[key][uid] = w
}

// wrote records that a create (from "") or an update of the version from
// stored s.
func (t *tracker) wrote(key, from string, s *discovery.EndpointSlice) {
	t.record(key, s.UID, write{from: from, to: s.ResourceVersion})
}

// deleted records the deletion of s.
func (t *tracker) deleted(key string, s *discovery.EndpointSlice) {
	t.record(key, s.UID, write{from: s.ResourceVersion})
}

// gone drops a slice the cache saw deleted, by whomever.
func (t *tracker) gone(s *discovery.EndpointSlice) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.services[s.Namespace+"/"+s.Labels[discovery.LabelServiceName]], s.UID)
}

func (t *tracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.services, key)
}

// expected reports whether s is exactly a version this controller wrote.
func (t *tracker) expected(s *discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.services[s.Namespace+"/"+s.Labels[discovery.LabelServiceName]][s.UID]
	return ok && w.to != "" && w.to == s.ResourceVersion && s.DeletionTimestamp == nil
}

// stale reports whether the cached slices lag behind our writes: a created
// slice missing, a deleted one present, an updated one still at the version
// the update replaced. The cache only moves forward, so any other version
// of an updated slice is ours or newer. Deletions the cache has caught up
// with are dropped.
func (t *tracker) stale(key string, cached []*discovery.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	want := t.services[key]
	if len(want) == 0 {
		return false
	}
	have := make(map[types.UID]string, len(cached))
	for _, s := range cached {
		have[s.UID] = s.ResourceVersion
	}
	stale := false
	now := time.Now()
	for uid, w := range want {
		rv, ok := have[uid]
		switch {
		case now.Sub(w.at) > trackTimeout && (w.to == "" || !ok):
			delete(want, uid)
		case w.to == "" && ok, w.from == "" && !ok, w.from != "" && ok && rv == w.from:
			stale = true
		case w.to == "" && !ok:
			delete(want, uid)
		}
	}
	return stale
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
