// Package deployment rolls Deployments out through ReplicaSets: rolling
// updates within maxSurge/maxUnavailable, Recreate, revision history and
// its cleanup, pause and resume, progress deadlines and proportional
// scaling, with status that `kubectl rollout status` understands.
package deployment

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.uber.org/zap"
	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "deployment"

var controllerKind = apps.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	rsIndex  cache.Indexer
	podList  corelisters.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	lg       *zap.Logger
	recorder record.EventRecorder
	now      func() time.Time
	// written holds deployments this controller wrote until the cache
	// shows them.
	written *controller.Written[*apps.Deployment]

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the Deployment controller.
func New(client kubernetes.Interface, dInformer appsinformers.DeploymentInformer, rsInformer appsinformers.ReplicaSetInformer, podInformer coreinformers.PodInformer, recorder record.EventRecorder, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	if recorder == nil {
		recorder = &record.FakeRecorder{}
	}
	c := &Controller{
		client:   client,
		dLister:  dInformer.Lister(),
		rsLister: rsInformer.Lister(),
		rsIndex:  rsInformer.Informer().GetIndexer(),
		podList:  podInformer.Lister(),
		synced:   []cache.InformerSynced{dInformer.Informer().HasSynced, rsInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		queue:    controller.NewQueue(Name),
		lg:       lg.With(zap.String("controller", Name)),
		recorder: recorder,
		now:      time.Now,
		written:  controller.NewWritten[*apps.Deployment](),
	}
	c.syncHandler = c.sync
	if err := controller.AddControllerUIDIndex(rsInformer.Informer()); err != nil {
		c.lg.Error("failed to index replica sets", zap.Error(err))
	}
	_, _ = dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controller.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) {
			// The echo of this controller's own write needs no sync.
			if d, ok := obj.(*apps.Deployment); ok && c.written.Seen(d.Namespace+"/"+d.Name, d) {
				return
			}
			controller.Enqueue(c.queue, obj)
		},
		DeleteFunc: func(obj any) { controller.Enqueue(c.queue, obj) },
	})
	_, _ = rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.onReplicaSet,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*apps.ReplicaSet), cur.(*apps.ReplicaSet)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			or, nr := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
			if or != nil && (nr == nil || or.UID != nr.UID) {
				c.onReplicaSet(o)
			}
			if statusOnly(o, n) && nr != nil {
				// Pods turning ready move the ReplicaSet's status in
				// bursts: one deployment sync per burst is enough.
				if d := c.resolve(n.Namespace, nr); d != nil {
					c.queue.AddAfter(n.Namespace+"/"+d.Name, controller.StatusDelay)
				}
				return
			}
			c.onReplicaSet(n)
		},
		DeleteFunc: c.onReplicaSet,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.onPodDelete})
	return c
}

// Run waits for the caches, then syncs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controller.RunWorkers(ctx, Name, c.lg, c.queue, workers, c.syncHandler, c.synced...)
}

func unwrap[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}

// statusOnly reports whether a ReplicaSet changed only its status (which
// its controller writes as its pods come and go): same spec generation,
// labels, annotations, owners, deletion state and conditions.
func statusOnly(o, n *apps.ReplicaSet) bool {
	return o.Generation == n.Generation &&
		(o.DeletionTimestamp == nil) == (n.DeletionTimestamp == nil) &&
		maps.Equal(o.Labels, n.Labels) && maps.Equal(o.Annotations, n.Annotations) &&
		apiequality.Semantic.DeepEqual(o.OwnerReferences, n.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(o.Status.Conditions, n.Status.Conditions)
}

// onReplicaSet enqueues the deployment owning rs, or for an orphan every
// deployment that could adopt it.
func (c *Controller) onReplicaSet(obj any) {
	rs, ok := unwrap[*apps.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolve(rs.Namespace, ref); d != nil {
			controller.Enqueue(c.queue, d)
		}
		return
	}
	ds, _ := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			controller.Enqueue(c.queue, d)
		}
	}
}

// onPodDelete wakes a Recreate deployment once its old pods are gone.
func (c *Controller) onPodDelete(obj any) {
	pod, ok := unwrap[*v1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := c.resolve(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == apps.RecreateDeploymentStrategyType {
		controller.Enqueue(c.queue, d)
	}
}

func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *apps.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// sync reconciles one deployment. A conflict means a newer version of the
// deployment or of one of its ReplicaSets exists; that version's watch event
// queues the deployment again at once, so it is not retried through the
// rate limiter (whose backoff would stall a rollout behind busy writes).
func (c *Controller) sync(ctx context.Context, key string) error {
	err := c.syncDeployment(ctx, key)
	if apierrors.IsConflict(err) || errors.Is(err, errChanged) {
		return nil
	}
	return err
}

func (c *Controller) syncDeployment(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.written.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	d := c.written.Fresh(key, cached).DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// An empty selector would match every pod; Kubernetes refuses too.
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case apps.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList)
	default:
		return c.rolloutRolling(ctx, d, rsList)
	}
}

func (c *Controller) claimReplicaSets(ctx context.Context, d *apps.Deployment, sel labels.Selector) ([]*apps.ReplicaSet, error) {
	all := controller.OwnedOrOrphaned[*apps.ReplicaSet](c.rsIndex, d.Namespace, d.UID)
	m := &controller.RefManager{
		Owner: d, GVK: controllerKind,
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
		CanAdopt: controller.RecheckDeletionTimestamp(d, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		}),
	}
	return controller.Claim(ctx, m, all, func(rs *apps.ReplicaSet) bool { return sel.Matches(labels.Set(rs.Labels)) })
}

// podsByReplicaSet maps ReplicaSet UIDs to their pods (for Recreate).
func (c *Controller) podsByReplicaSet(d *apps.Deployment, rsList []*apps.ReplicaSet) (map[types.UID][]*v1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.podList.Pods(d.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	out := make(map[types.UID][]*v1.Pod, len(rsList))
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], p)
		}
	}
	return out, nil
}
