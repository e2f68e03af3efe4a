// Package replicaset keeps the number of pods of each ReplicaSet (and, through
// an adapter, each ReplicationController) equal to its replicas: it adopts
// matching orphans, releases pods that stopped matching, creates and deletes
// pods, and reports status.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	apps "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// BurstReplicas caps the pods one sync creates or deletes.
const BurstReplicas = 500

// Kind adapts an API kind (ReplicaSet, ReplicationController) to the
// controller, which works on apps/v1 ReplicaSets.
type Kind struct {
	Name     string // controller and queue name
	GVK      schema.GroupVersionKind
	Informer cache.SharedIndexInformer
	// Convert turns an informer object into a ReplicaSet (nil when it is not one).
	Convert func(obj any) *apps.ReplicaSet
	// Get reads a fresh copy from the API (for adoption checks).
	Get func(ctx context.Context, namespace, name string) (*apps.ReplicaSet, error)
	// UpdateStatus writes rs.Status.
	UpdateStatus func(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error)
}

// Controller is the ReplicaSet controller.
type Controller struct {
	kind         Kind
	client       kubernetes.Interface
	pods         cache.Indexer
	podsSynced   cache.InformerSynced
	expectations *controller.Expectations
	queue        workqueue.TypedRateLimitingInterface[string]
	lg           *zap.Logger
	recorder     record.EventRecorder
	now          func() time.Time
	// written holds objects whose status this controller wrote until the
	// cache shows them.
	written *controller.Written[*apps.ReplicaSet]

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the ReplicaSet controller.
func New(client kubernetes.Interface, rsInformer cache.SharedIndexInformer, podInformer coreinformers.PodInformer, recorder record.EventRecorder, lg *zap.Logger) *Controller {
	gvk := apps.SchemeGroupVersion.WithKind("ReplicaSet")
	return NewForKind(Kind{
		Name: "replicaset", GVK: gvk, Informer: rsInformer,
		Convert: func(obj any) *apps.ReplicaSet { rs, _ := obj.(*apps.ReplicaSet); return rs },
		Get: func(ctx context.Context, ns, name string) (*apps.ReplicaSet, error) {
			return client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		UpdateStatus: func(ctx context.Context, rs *apps.ReplicaSet) (*apps.ReplicaSet, error) {
			return client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		},
	}, client, podInformer, recorder, lg)
}

// NewForKind returns a controller for any kind that behaves like a ReplicaSet.
func NewForKind(kind Kind, client kubernetes.Interface, podInformer coreinformers.PodInformer, recorder record.EventRecorder, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	if recorder == nil {
		recorder = &record.FakeRecorder{}
	}
	c := &Controller{
		kind:         kind,
		client:       client,
		pods:         podInformer.Informer().GetIndexer(),
		podsSynced:   podInformer.Informer().HasSynced,
		expectations: controller.NewExpectations(),
		queue:        controller.NewQueue(kind.Name),
		lg:           lg.With(zap.String("controller", kind.Name)),
		recorder:     recorder,
		now:          time.Now,
		written:      controller.NewWritten[*apps.ReplicaSet](),
	}
	c.syncHandler = c.sync
	if err := controller.AddControllerUIDIndex(podInformer.Informer()); err != nil {
		c.lg.Error("failed to index pods", zap.Error(err))
	}
	_, _ = kind.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controller.Enqueue(c.queue, obj) },
		UpdateFunc: func(old, cur any) {
			o, n := kind.Convert(old), kind.Convert(cur)
			if o != nil && n != nil && o.ResourceVersion == n.ResourceVersion {
				return
			}
			// The echo of this controller's own status write needs no sync.
			if n != nil && c.written.Seen(n.Namespace+"/"+n.Name, n) {
				return
			}
			controller.Enqueue(c.queue, cur)
		},
		DeleteFunc: func(obj any) {
			if key, err := controller.KeyFunc(obj); err == nil {
				c.expectations.Delete(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run waits for the caches, then syncs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return controller.RunWorkers(ctx, c.kind.Name, c.lg, c.queue, workers, c.syncHandler, c.kind.Informer.HasSynced, c.podsSynced)
}

func (c *Controller) get(namespace, name string) (*apps.ReplicaSet, error) {
	obj, exists, err := c.kind.Informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, apierrors.NewNotFound(c.kind.GVK.GroupVersion().WithResource("").GroupResource(), name)
	}
	return c.kind.Convert(obj), nil
}

func (c *Controller) list(namespace string) []*apps.ReplicaSet {
	objs, _ := c.kind.Informer.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	out := make([]*apps.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		if rs := c.kind.Convert(o); rs != nil {
			out = append(out, rs)
		}
	}
	return out
}

// resolveRef returns the key of the owner ref points to, if it is one of ours.
func (c *Controller) resolveRef(namespace string, ref *metav1.OwnerReference) (string, bool) {
	if ref.Kind != c.kind.GVK.Kind || ref.APIVersion != c.kind.GVK.GroupVersion().String() {
		return "", false
	}
	rs, err := c.get(namespace, ref.Name)
	if err != nil || rs == nil || rs.UID != ref.UID {
		return "", false
	}
	return namespace + "/" + ref.Name, true
}

// matching returns the keys of our objects whose selector matches pod.
func (c *Controller) matching(pod *v1.Pod) []string {
	var keys []string
	for _, rs := range c.list(pod.Namespace) {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		keys = append(keys, rs.Namespace+"/"+rs.Name)
	}
	return keys
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*v1.Pod)
	if pod.DeletionTimestamp != nil {
		c.podGone(pod, false)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if key, ok := c.resolveRef(pod.Namespace, ref); ok {
			// A pod this controller created changes only status.
			if c.expectations.CreationObserved(key) {
				c.queue.AddAfter(key, controller.StatusDelay)
			} else {
				c.queue.Add(key)
			}
		}
		return
	}
	for _, key := range c.matching(pod) {
		c.queue.Add(key)
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*v1.Pod), cur.(*v1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	labelsChanged := !apiequality.Semantic.DeepEqual(o.Labels, n.Labels)
	if n.DeletionTimestamp != nil && o.DeletionTimestamp == nil {
		// A pod being deleted is gone for counting purposes.
		c.podGone(n, false)
		if labelsChanged {
			c.podGone(o, false)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID)
	if refChanged {
		if key, ok := c.resolveRef(o.Namespace, oldRef); ok {
			c.queue.Add(key)
		}
	}
	if curRef != nil {
		key, ok := c.resolveRef(n.Namespace, curRef)
		if !ok {
			return
		}
		if labelsChanged || refChanged {
			c.queue.Add(key)
		} else {
			c.queue.AddAfter(key, controller.StatusDelay)
		}
		if !controller.IsPodReady(o) && controller.IsPodReady(n) {
			if rs, err := c.get(n.Namespace, curRef.Name); err == nil && rs.Spec.MinReadySeconds > 0 {
				c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if labelsChanged || oldRef != nil {
		for _, key := range c.matching(n) {
			c.queue.Add(key)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*v1.Pod); !ok {
			return
		}
	}
	c.podGone(pod, pod.DeletionTimestamp != nil)
}

// podGone records that pod no longer counts for its owner and queues the
// owner: at once when the deletion is news (the pod must be replaced),
// after StatusDelay when the controller asked for it or already saw the
// pod terminating (only status moves).
func (c *Controller) podGone(pod *v1.Pod, wasTerminating bool) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return
	}
	key, ok := c.resolveRef(pod.Namespace, ref)
	if !ok {
		return
	}
	if c.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name) || wasTerminating {
		c.queue.AddAfter(key, controller.StatusDelay)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		c.written.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	rs := c.written.Fresh(key, cached).DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || selector.Empty() {
		c.lg.Warn("invalid selector", zap.String("key", key), zap.Error(err))
		return nil
	}
	needsSync := c.expectations.Satisfied(key) && rs.DeletionTimestamp == nil

	all := controller.OwnedOrOrphaned[*v1.Pod](c.pods, namespace, rs.UID)
	var active []*v1.Pod
	var terminating int32
	for _, p := range all {
		if controller.IsPodActive(p) {
			active = append(active, p)
		} else if p.DeletionTimestamp != nil && !controller.IsPodTerminal(p) {
			if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == rs.UID {
				terminating++
			}
		}
	}
	m := &controller.RefManager{
		Owner: rs, GVK: c.kind.GVK,
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
		CanAdopt: controller.RecheckDeletionTimestamp(rs, func(ctx context.Context) (metav1.Object, error) {
			return c.kind.Get(ctx, namespace, name)
		}),
	}
	pods, err := controller.Claim(ctx, m, active, func(p *v1.Pod) bool { return selector.Matches(labels.Set(p.Labels)) })
	if err != nil {
		return err
	}
	var manageErr error
	var issued int
	if needsSync {
		issued, manageErr = c.manageReplicas(ctx, key, pods, rs)
	}
	if issued > 0 && manageErr == nil {
		// The status computed now would count the pods as they were
		// before these writes; each write's watch event queues this key
		// again (see addPod, podGone), and that sync writes the status
		// once, with observedGeneration.
		return nil
	}
	status := c.calculateStatus(rs, pods, terminating, manageErr)
	updated, err := c.updateStatus(ctx, rs, status)
	if apierrors.IsConflict(err) {
		// A newer version exists; its watch event queues this key again
		// without the rate limiter's backoff.
		return manageErr
	}
	if err != nil {
		return err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == *updated.Spec.Replicas &&
		updated.Status.AvailableReplicas != *updated.Spec.Replicas {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// errCreate marks a failed pod creation, reported as ReplicaFailure.
var errCreate = errors.New("replicaset: pod creation failed")

// manageReplicas creates or deletes pods towards rs's replicas; it returns
// how many creations and deletions the apiserver accepted.
func (c *Controller) manageReplicas(ctx context.Context, key string, pods []*v1.Pod, rs *apps.ReplicaSet) (int, error) {
	diff := len(pods) - int(*rs.Spec.Replicas)
	switch {
	case diff < 0:
		n := min(-diff, BurstReplicas)
		c.expectations.Expect(key, n, nil)
		ref := controller.NewControllerRef(rs, c.kind.GVK)
		var accepted atomic.Int32
		_, err := slowStartBatch(n, 1, func() error {
			pod := controller.PodFromTemplate(rs.Spec.Template.DeepCopy(), rs.Namespace, rs.Name+"-", ref)
			created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			switch {
			case err == nil:
				accepted.Add(1)
				c.recorder.Eventf(c.ref(rs), v1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
			case apierrors.HasStatusCause(err, v1.NamespaceTerminatingCause):
				// The namespace is going away: nothing to create.
				return nil
			default:
				c.recorder.Eventf(c.ref(rs), v1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			}
			return err
		})
		// Creations that failed (or were skipped) will never be observed.
		for range n - int(accepted.Load()) {
			c.expectations.CreationObserved(key)
		}
		if err != nil {
			return int(accepted.Load()), fmt.Errorf("%w: %w", errCreate, err)
		}
		return int(accepted.Load()), nil
	case diff > 0:
		n := min(diff, BurstReplicas)
		victims := slices.Clone(pods)
		slices.SortStableFunc(victims, func(a, b *v1.Pod) int {
			if controller.LessForDeletion(a, b) {
				return -1
			}
			if controller.LessForDeletion(b, a) {
				return 1
			}
			return 0
		})
		victims = victims[:n]
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.expectations.Expect(key, 0, keys)
		var wg sync.WaitGroup
		var accepted atomic.Int32
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Go(func() {
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
				if err == nil {
					accepted.Add(1)
					c.recorder.Eventf(c.ref(rs), v1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
				} else {
					c.expectations.DeletionObserved(key, keys[i])
					if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
						errs[i] = err
					}
				}
			})
		}
		wg.Wait()
		return int(accepted.Load()), errors.Join(errs...)
	}
	return 0, nil
}

// ref is what events are about: the real kind, not the converted one.
func (c *Controller) ref(rs *apps.ReplicaSet) *v1.ObjectReference {
	return &v1.ObjectReference{Kind: c.kind.GVK.Kind, APIVersion: c.kind.GVK.GroupVersion().String(),
		Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID, ResourceVersion: rs.ResourceVersion}
}

// slowStartBatch calls fn count times in batches that double from initial,
// stopping after the first batch with a failure; it returns how many calls
// it made that succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); batch > 0; batch = min(2*batch, count-done) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		ok := 0
		for _, e := range errs {
			if e == nil {
				ok++
			}
		}
		done += ok
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}

func (c *Controller) calculateStatus(rs *apps.ReplicaSet, pods []*v1.Pod, terminating int32, manageErr error) apps.ReplicaSetStatus {
	s := *rs.Status.DeepCopy()
	s.Replicas = int32(len(pods))
	s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas = 0, 0, 0
	tplLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	now := c.now()
	for _, p := range pods {
		if tplLabels.Matches(labels.Set(p.Labels)) {
			s.FullyLabeledReplicas++
		}
		if controller.IsPodReady(p) {
			s.ReadyReplicas++
			if controller.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				s.AvailableReplicas++
			}
		}
	}
	if c.kind.GVK.Kind == "ReplicaSet" {
		s.TerminatingReplicas = &terminating
	}
	s.ObservedGeneration = rs.Generation
	i := slices.IndexFunc(s.Conditions, func(c apps.ReplicaSetCondition) bool { return c.Type == apps.ReplicaSetReplicaFailure })
	switch {
	case manageErr != nil && errors.Is(manageErr, errCreate) && i < 0:
		s.Conditions = append(s.Conditions, apps.ReplicaSetCondition{
			Type: apps.ReplicaSetReplicaFailure, Status: v1.ConditionTrue, Reason: "FailedCreate",
			Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now),
		})
	case manageErr == nil && i >= 0:
		s.Conditions = slices.Delete(s.Conditions, i, i+1)
	}
	return s
}

// updateStatus writes status unless nothing changed; a conflict is retried
// by the queue with a fresh cache.
func (c *Controller) updateStatus(ctx context.Context, rs *apps.ReplicaSet, status apps.ReplicaSetStatus) (*apps.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	from := rs.ResourceVersion
	rs.Status = status
	updated, err := c.kind.UpdateStatus(ctx, rs)
	if err == nil {
		c.written.Wrote(rs.Namespace+"/"+rs.Name, from, updated.DeepCopy())
	}
	return updated, err
}
