// Package namespace empties Terminating namespaces: it deletes every
// namespaced resource found through discovery, then removes the
// "kubernetes" finalizer through /finalize so that the apiserver removes the
// namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "namespace"

// ErrContentRemaining means objects are still going away; the namespace is
// looked at again later.
var ErrContentRemaining = errors.New("namespace: content remaining")

// Controller is the namespace controller.
type Controller struct {
	client    kubernetes.Interface
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	lister    corelisters.NamespaceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	lg        *zap.Logger

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
	// recheck is how soon a namespace with remaining content is looked at again.
	recheck time.Duration
}

// New returns the namespace controller.
func New(client kubernetes.Interface, md metadata.Interface, disc discovery.DiscoveryInterface, nsInformer coreinformers.NamespaceInformer, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	c := &Controller{
		client: client, metadata: md, discovery: disc,
		lister: nsInformer.Lister(), synced: nsInformer.Informer().HasSynced,
		queue: controller.NewQueue(Name), lg: lg.With(zap.String("controller", Name)),
		recheck: time.Second,
	}
	c.syncHandler = c.sync
	enqueue := func(obj any) {
		if ns, ok := obj.(*v1.Namespace); ok && ns.DeletionTimestamp != nil {
			controller.Enqueue(c.queue, ns)
		}
	}
	_, _ = nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run waits for the cache, then syncs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controller.RunWorkers(ctx, Name, c.lg, c.queue, workers, c.syncHandler, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, v1.FinalizerKubernetes) {
		return nil
	}
	remaining, err := c.deleteContent(ctx, name)
	if err != nil {
		return err
	}
	if err := c.setConditions(ctx, ns, remaining); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	if len(remaining) > 0 {
		c.queue.AddAfter(name, c.recheck)
		return nil
	}
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = slices.DeleteFunc(fin.Spec.Finalizers, func(f v1.FinalizerName) bool { return f == v1.FinalizerKubernetes })
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, fin, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	if err == nil {
		c.lg.Info("namespace finalized", zap.String("namespace", name))
	}
	return err
}

// deleteContent deletes everything in namespace and returns, per resource,
// how many objects are still there.
func (c *Controller) deleteContent(ctx context.Context, namespace string) (map[string]int, error) {
	lists, derr := c.discovery.ServerPreferredNamespacedResources()
	if derr != nil && len(lists) == 0 {
		return nil, fmt.Errorf("namespace: discovery: %w", derr)
	}
	remaining := map[string]int{}
	var errs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			n, err := c.deleteResource(ctx, gvr, namespace, slices.Contains(r.Verbs, "deletecollection"))
			if err != nil {
				errs = append(errs, err)
			}
			if n > 0 {
				remaining[gvr.GroupResource().String()] = n
			}
		}
	}
	if derr != nil {
		// Some groups were not discovered: content may remain there.
		errs = append(errs, derr)
	}
	return remaining, errors.Join(errs...)
}

func (c *Controller) deleteResource(ctx context.Context, gvr schema.GroupVersionResource, namespace string, collection bool) (int, error) {
	rc := c.metadata.Resource(gvr).Namespace(namespace)
	ignore := func(err error) bool {
		return err == nil || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsConflict(err)
	}
	if collection {
		if err := rc.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); !ignore(err) {
			return 0, fmt.Errorf("namespace: deletecollection %s in %s: %w", gvr, namespace, err)
		}
	}
	list, err := rc.List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("namespace: list %s in %s: %w", gvr, namespace, err)
	}
	for _, item := range list.Items {
		if item.DeletionTimestamp != nil {
			continue
		}
		bg := metav1.DeletePropagationBackground
		if err := rc.Delete(ctx, item.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); !ignore(err) {
			return len(list.Items), fmt.Errorf("namespace: delete %s %s/%s: %w", gvr, namespace, item.Name, err)
		}
	}
	return len(list.Items), nil
}

// setConditions reports progress as Kubernetes does.
func (c *Controller) setConditions(ctx context.Context, ns *v1.Namespace, remaining map[string]int) error {
	status, reason, msg := v1.ConditionFalse, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"
	if len(remaining) > 0 {
		var parts []string
		total := 0
		for r, n := range remaining {
			parts = append(parts, r)
			total += n
		}
		sort.Strings(parts)
		status, reason = v1.ConditionTrue, "SomeResourcesRemain"
		msg = fmt.Sprintf("Some resources are remaining: %s has %d resource instances", strings.Join(parts, ", "), total)
	}
	cp := ns.DeepCopy()
	i := slices.IndexFunc(cp.Status.Conditions, func(c v1.NamespaceCondition) bool { return c.Type == v1.NamespaceContentRemaining })
	if i >= 0 && cp.Status.Conditions[i].Status == status && cp.Status.Conditions[i].Message == msg {
		return nil
	}
	cond := v1.NamespaceCondition{Type: v1.NamespaceContentRemaining, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
	if i >= 0 {
		cp.Status.Conditions[i] = cond
	} else {
		cp.Status.Conditions = append(cp.Status.Conditions, cond)
	}
	_, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	return err
}
