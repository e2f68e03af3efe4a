// Package controller holds what every controller of the controller-manager
// shares: the worker loop over a rate-limited workqueue, expectations that
// keep a slow watch from causing duplicate writes, adoption and release of
// dependents through ownerReferences, and pod predicates.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrCacheSync is returned by Run when the informers never synced.
var ErrCacheSync = errors.New("controller: caches did not sync")

// StatusDelay is how long a controller waits before syncing after a change
// that only moves status: a ReplicaSet's pods turning ready one by one, or
// the pods it asked to create or delete showing up. The delaying queue
// keeps the earliest pending time per key, so a burst within the delay
// makes one sync and one status write instead of one per pod (Kubernetes'
// controllers get part of this from workqueue deduplication under load).
// Changes that need action (a pod deleted by someone else, labels or
// owners changed) still sync at once.
const StatusDelay = 500 * time.Millisecond

// KeyFunc is the workqueue key of an object: namespace/name, also for the
// tombstones of deleted objects.
var KeyFunc = cache.DeletionHandlingMetaNamespaceKeyFunc

// NewQueue returns the typed rate-limited workqueue every controller uses.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Enqueue adds obj's key to q.
func Enqueue(q workqueue.TypedRateLimitingInterface[string], obj any) {
	key, err := KeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("controller: key of %T: %w", obj, err))
		return
	}
	q.Add(key)
}

// RunWorkers waits for the informers to sync, runs workers goroutines that
// drain q through sync, and blocks until ctx is done; it then shuts q down.
func RunWorkers(ctx context.Context, name string, lg *zap.Logger, q workqueue.TypedRateLimitingInterface[string], workers int, syncFn func(context.Context, string) error, synced ...cache.InformerSynced) error {
	defer utilruntime.HandleCrash()
	defer q.ShutDown()
	lg.Info("starting controller", zap.String("controller", name), zap.Int("workers", workers))
	defer lg.Info("stopped controller", zap.String("controller", name))
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return fmt.Errorf("%w: %s", ErrCacheSync, name)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for ProcessNextWorkItem(ctx, name, lg, q, syncFn) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
	return nil
}

// ProcessNextWorkItem takes one key from q and syncs it: success forgets the
// key's failure history, an error puts it back rate-limited. It reports
// false once q is shut down.
func ProcessNextWorkItem(ctx context.Context, name string, lg *zap.Logger, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	start := time.Now()
	err := sync(ctx, key)
	observeSync(name, start, err)
	if err == nil {
		q.Forget(key)
		return true
	}
	if q.NumRequeues(key) < 15 {
		lg.Debug("sync failed, retrying", zap.String("controller", name), zap.String("key", key), zap.Error(err))
	} else {
		lg.Warn("sync keeps failing", zap.String("controller", name), zap.String("key", key), zap.Error(err))
	}
	q.AddRateLimited(key)
	return true
}
