// Package podgc deletes pods nobody else will: finished pods beyond a
// threshold (oldest first), pods bound to nodes that no longer exist,
// unscheduled pods being deleted, and terminating pods on out-of-service
// nodes. It runs periodically rather than from a queue: what it looks for
// is absence, which no event announces.
package podgc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "podgc"

// outOfServiceTaint marks a node whose pods may be force-deleted.
const outOfServiceTaint = "node.kubernetes.io/out-of-service"

// Controller is the pod garbage collector.
type Controller struct {
	client     kubernetes.Interface
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	threshold  int
	period     time.Duration
	lg         *zap.Logger

	// gcHandler is a field so that tests can replace it.
	gcHandler func(ctx context.Context) error
}

// New returns the pod GC; threshold 0 keeps every terminated pod.
func New(client kubernetes.Interface, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer, threshold int, period time.Duration, lg *zap.Logger) *Controller {
	if lg == nil {
		lg = zap.NewNop()
	}
	c := &Controller{client: client, podLister: podInformer.Lister(), nodeLister: nodeInformer.Lister(),
		synced:    []cache.InformerSynced{podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced},
		threshold: threshold, period: period, lg: lg.With(zap.String("controller", Name))}
	c.gcHandler = c.gc
	return c
}

// Run waits for the caches, then collects every period until ctx ends.
func (c *Controller) Run(ctx context.Context, _ int) error {
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced...) {
		return fmt.Errorf("%w: %s", controller.ErrCacheSync, Name)
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.gcHandler(ctx); err != nil {
			c.lg.Warn("pod gc failed", zap.Error(err))
		}
	}, c.period)
	return nil
}

func (c *Controller) gc(ctx context.Context) error {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return err
	}
	var terminated []*v1.Pod
	for _, p := range pods {
		switch {
		case controller.IsPodTerminal(p):
			terminated = append(terminated, p)
		case p.DeletionTimestamp != nil && p.Spec.NodeName == "":
			c.forceDelete(ctx, p, "unscheduled terminating pod")
			continue
		}
		if p.Spec.NodeName == "" {
			continue
		}
		node, err := c.nodeLister.Get(p.Spec.NodeName)
		if apierrors.IsNotFound(err) {
			// Ask the API before acting on an absence in the cache.
			if _, err := c.client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				c.forceDelete(ctx, p, "orphaned pod (node gone)")
			}
			continue
		}
		if err == nil && p.DeletionTimestamp != nil && outOfService(node) {
			c.forceDelete(ctx, p, "terminating pod on out-of-service node")
		}
	}
	if c.threshold > 0 && len(terminated) > c.threshold {
		slices.SortFunc(terminated, func(a, b *v1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		for _, p := range terminated[:len(terminated)-c.threshold] {
			c.forceDelete(ctx, p, "terminated pod over threshold")
		}
	}
	return nil
}

func outOfService(n *v1.Node) bool {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == v1.NodeReady && cond.Status == v1.ConditionTrue {
			ready = true
		}
	}
	return !ready && slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool {
		return t.Key == outOfServiceTaint && t.Effect == v1.TaintEffectNoExecute
	})
}

func (c *Controller) forceDelete(ctx context.Context, p *v1.Pod, why string) {
	zero := int64(0)
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		c.lg.Warn("failed to delete pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("reason", why), zap.Error(err))
		return
	}
	c.lg.Info("deleted pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.String("reason", why))
}
