// Package watcher feeds the zone from reflectors over Services,
// EndpointSlices and Pods, listing through the apiserver and watching
// through the apiserver or the event bus. Lists are read in pages and
// objects are trimmed (object.Transformer) before anything keeps them (see
// pagedListWatch), and the zone's index is the only copy kept (see store).
package watcher

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"drover.dev/dns/internal/apiclient"
	"drover.dev/dns/internal/object"
	"drover.dev/dns/internal/zone"
	"drover.dev/libs/bus"
)

// Watcher runs the reflectors.
type Watcher struct {
	reflectors []*cache.Reflector
	stores     []*store
	wg         sync.WaitGroup
}

// New wires reflectors into z. js, when set, makes them watch through the
// bus. Pods are watched (for verified pod records) only when watchPods.
func New(cs apiclient.Clients, js jetstream.JetStream, z *zone.Zone, watchPods bool) *Watcher {
	t := object.NewTransformer()
	w := &Watcher{}
	add := func(r bus.Resource, s *store) {
		var inner cache.ListerWatcherWithContext = cache.NewListWatchFromClient(r.Client, r.Resource, "", fields.Everything())
		if js != nil {
			inner = bus.NewResourceListWatch(js, r)
		}
		s.transform = t.Transform
		lw := &pagedListWatch{inner: inner, transform: t.Transform, pageSize: pageSize}
		obj := r.New()
		w.reflectors = append(w.reflectors, cache.NewReflectorWithOptions(lw, obj, s, cache.ReflectorOptions{
			Name: r.Resource, TypeDescription: r.Resource,
		}))
		w.stores = append(w.stores, s)
	}
	add(bus.Resource{Resource: "services", Client: cs.Core, New: func() runtime.Object { return &corev1.Service{} }}, services(z))
	add(bus.Resource{Group: discoveryv1.GroupName, Resource: "endpointslices", Client: cs.Discovery,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }}, endpointSlices(z))
	if watchPods {
		add(bus.Resource{Resource: "pods", Client: cs.Core, New: func() runtime.Object { return &corev1.Pod{} }}, pods(z))
	}
	return w
}

// Start starts the reflectors; they stop when ctx ends (then call Shutdown).
func (w *Watcher) Start(ctx context.Context) {
	for _, r := range w.reflectors {
		w.wg.Go(func() { r.RunWithContext(ctx) })
	}
}

// Shutdown waits for the reflectors to stop.
func (w *Watcher) Shutdown() { w.wg.Wait() }

// WaitForSync blocks until every first list has reached the zone, or ctx
// ends (false).
func (w *Watcher) WaitForSync(ctx context.Context) bool {
	synced := make([]cache.InformerSynced, 0, len(w.stores))
	for _, s := range w.stores {
		synced = append(synced, s.HasSynced)
	}
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

type nsName struct{ ns, name string }

func services(z *zone.Zone) *store {
	return &store{
		upsert: func(o any) error {
			s, ok := o.(*object.Service)
			if !ok {
				return unexpected(o)
			}
			z.UpsertService(s)
			return nil
		},
		remove: func(o any) error {
			s, ok := o.(*object.Service)
			if !ok {
				return unexpected(o)
			}
			z.DeleteService(s.Namespace, s.Name)
			return nil
		},
		replace: func(list []any) error {
			keep := make(map[nsName]bool, len(list))
			for _, o := range list {
				s, ok := o.(*object.Service)
				if !ok {
					return unexpected(o)
				}
				keep[nsName{s.Namespace, s.Name}] = true
			}
			z.RetainServices(func(ns, name string) bool { return keep[nsName{ns, name}] })
			for _, o := range list {
				z.UpsertService(o.(*object.Service))
			}
			return nil
		},
	}
}

func endpointSlices(z *zone.Zone) *store {
	// owner is each slice's service: a slice whose label changes must leave
	// its old service, and a deleted slice's last state may be stale.
	var mu sync.Mutex
	owner := map[nsName]string{}
	upsert := func(sl *object.EndpointSlice) {
		k := nsName{sl.Namespace, sl.Name}
		if prev, ok := owner[k]; ok && prev != sl.Service {
			z.DeleteSlice(&object.EndpointSlice{Meta: sl.Meta, Service: prev})
		}
		if sl.Service == "" {
			delete(owner, k)
			return
		}
		owner[k] = sl.Service
		z.UpsertSlice(sl)
	}
	return &store{
		upsert: func(o any) error {
			sl, ok := o.(*object.EndpointSlice)
			if !ok {
				return unexpected(o)
			}
			mu.Lock()
			defer mu.Unlock()
			upsert(sl)
			return nil
		},
		remove: func(o any) error {
			sl, ok := o.(*object.EndpointSlice)
			if !ok {
				return unexpected(o)
			}
			mu.Lock()
			defer mu.Unlock()
			k := nsName{sl.Namespace, sl.Name}
			if prev, ok := owner[k]; ok {
				z.DeleteSlice(&object.EndpointSlice{Meta: sl.Meta, Service: prev})
				delete(owner, k)
			}
			return nil
		},
		replace: func(list []any) error {
			keep := make(map[nsName]bool, len(list))
			for _, o := range list {
				sl, ok := o.(*object.EndpointSlice)
				if !ok {
					return unexpected(o)
				}
				keep[nsName{sl.Namespace, sl.Name}] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for k, svc := range owner {
				if !keep[k] {
					z.DeleteSlice(&object.EndpointSlice{Meta: object.Meta{Name: k.name, Namespace: k.ns}, Service: svc})
					delete(owner, k)
				}
			}
			for _, o := range list {
				upsert(o.(*object.EndpointSlice))
			}
			return nil
		},
	}
}

// pods records pod IPs. A pod's IPs do not change while it runs; once it
// finished they are free for other pods.
func pods(z *zone.Zone) *store {
	upsert := func(o any) error {
		p, ok := o.(*object.Pod)
		if !ok {
			return unexpected(o)
		}
		if p.Finished {
			z.RemovePod(p.Namespace, p.Name, p.IPs)
		} else {
			z.AddPod(p.Namespace, p.Name, p.IPs)
		}
		return nil
	}
	return &store{
		upsert: upsert,
		remove: func(o any) error {
			p, ok := o.(*object.Pod)
			if !ok {
				return unexpected(o)
			}
			z.RemovePod(p.Namespace, p.Name, p.IPs)
			return nil
		},
		replace: func(list []any) error {
			running := make([]*object.Pod, 0, len(list))
			for _, o := range list {
				p, ok := o.(*object.Pod)
				if !ok {
					return unexpected(o)
				}
				if !p.Finished && len(p.IPs) > 0 {
					running = append(running, p)
				}
			}
			z.ReplacePods(running)
			return nil
		},
	}
}
