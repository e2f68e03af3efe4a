// Package endpoints writes, for every Service with a selector, the Endpoints
// object listing its pods' addresses (ready and not ready) and ports.
package endpoints

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "endpoints"

// MaxAddresses caps an Endpoints object, as on Kubernetes.
const MaxAddresses = 1000

const (
	overCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"
	headlessLabel          = "service.kubernetes.io/headless"
)

// Controller is the Endpoints controller.
type Controller struct {
	client    kubernetes.Interface
	svcLister corelisters.ServiceLister
	podLister corelisters.PodLister
	epLister  corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	lg        *zap.Logger

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the Endpoints controller.
func New(client kubernetes.Interface, svcInformer coreinformers.ServiceInformer, podInformer coreinformers.PodInformer, epInformer coreinformers.EndpointsInformer, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	c := &Controller{
		client: client, svcLister: svcInformer.Lister(), podLister: podInformer.Lister(), epLister: epInformer.Lister(),
		synced: []cache.InformerSynced{svcInformer.Informer().HasSynced, podInformer.Informer().HasSynced, epInformer.Informer().HasSynced},
		queue:  controller.NewQueue(Name), lg: lg.With(zap.String("controller", Name)),
	}
	c.syncHandler = c.sync
	enqueue := func(obj any) { controller.Enqueue(c.queue, obj) }
	_, _ = svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(controller.PodHandlers(c.queue, c.svcLister))
	_, _ = epInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// Someone else changed or removed our object: put it right.
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
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
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil {
		// Endpoints of selectorless services belong to their users.
		return nil
	}
	pods, err := c.podLister.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets, total := Subsets(svc, pods)
	cur, err := c.epLister.Endpoints(ns).Get(name)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := &v1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(svc.Labels)}}
	if exists {
		want.ObjectMeta = *cur.ObjectMeta.DeepCopy()
		want.Labels = maps.Clone(svc.Labels)
	}
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		want.Labels[headlessLabel] = ""
	}
	if want.Annotations != nil {
		delete(want.Annotations, overCapacityAnnotation)
	}
	if total > MaxAddresses {
		subsets = truncate(subsets, MaxAddresses)
		if want.Annotations == nil {
			want.Annotations = map[string]string{}
		}
		want.Annotations[overCapacityAnnotation] = "truncated"
	}
	want.Subsets = subsets
	if exists && apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) && apiequality.Semantic.DeepEqual(cur.Annotations, want.Annotations) {
		return nil
	}
	if !exists {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause) {
			return nil
		}
		return err
	}
	_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, want, metav1.UpdateOptions{})
	return err
}

// Subsets computes svc's subsets from pods, packed by port set and sorted
// so that equal inputs give equal outputs; it also returns the address count.
func Subsets(svc *v1.Service, pods []*v1.Pod) ([]v1.EndpointSubset, int) {
	type group struct {
		ports    []v1.EndpointPort
		ready    []v1.EndpointAddress
		notReady []v1.EndpointAddress
	}
	groups := map[string]*group{}
	total := 0
	for _, p := range pods {
		if !controller.ShouldPodBeInEndpoints(p, false) {
			continue
		}
		addr := v1.EndpointAddress{
			IP:        p.Status.PodIP,
			Hostname:  controller.Hostname(p, svc),
			TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		}
		if p.Spec.NodeName != "" {
			addr.NodeName = &p.Spec.NodeName
		}
		var ports []v1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := controller.FindPort(p, sp)
			if err != nil {
				continue
			}
			ports = append(ports, v1.EndpointPort{Name: sp.Name, Port: n, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && !(len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP == v1.ClusterIPNone) {
			continue
		}
		slices.SortFunc(ports, func(a, b v1.EndpointPort) int { return strings.Compare(portKey(a), portKey(b)) })
		var k strings.Builder
		for _, pt := range ports {
			k.WriteString(portKey(pt) + ";")
		}
		g := groups[k.String()]
		if g == nil {
			g = &group{ports: ports}
			groups[k.String()] = g
		}
		total++
		if svc.Spec.PublishNotReadyAddresses || controller.IsPodReady(p) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := slices.Sorted(maps.Keys(groups))
	var out []v1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		byIP := func(a, b v1.EndpointAddress) int {
			if c := strings.Compare(a.IP, b.IP); c != 0 {
				return c
			}
			return strings.Compare(a.TargetRef.Name, b.TargetRef.Name)
		}
		slices.SortFunc(g.ready, byIP)
		slices.SortFunc(g.notReady, byIP)
		out = append(out, v1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out, total
}

func portKey(p v1.EndpointPort) string { return fmt.Sprintf("%s/%d/%s", p.Name, p.Port, p.Protocol) }

// truncate keeps at most max addresses, ready ones first, spread over the
// subsets in proportion.
func truncate(subsets []v1.EndpointSubset, max int) []v1.EndpointSubset {
	left := max
	for i := range subsets {
		s := &subsets[i]
		if len(s.Addresses) > left {
			s.Addresses = s.Addresses[:left]
		}
		left -= len(s.Addresses)
	}
	for i := range subsets {
		s := &subsets[i]
		if len(s.NotReadyAddresses) > left {
			s.NotReadyAddresses = s.NotReadyAddresses[:left]
		}
		left -= len(s.NotReadyAddresses)
	}
	return subsets
}
