// Package nodeipam gives every node a distinct pod CIDR (spec.podCIDR) from
// the cluster CIDR and takes it back when the node is deleted.
package nodeipam

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"drover.dev/controller-manager/internal/controller"
)

// Name is the controller's name.
const Name = "nodeipam"

// ErrFull means every pod CIDR of the cluster CIDR is taken.
var ErrFull = errors.New("nodeipam: no pod CIDR left")

// Allocator hands out the subnets of a CIDR.
type Allocator struct {
	base   uint32
	shift  uint
	mask   int
	mu     sync.Mutex
	used   []bool
	next   int
	byNode map[string]int
}

// NewAllocator splits cidr (IPv4) into subnets of maskSize bits.
func NewAllocator(cidr *net.IPNet, maskSize int) (*Allocator, error) {
	ip := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if ip == nil || bits != 32 || maskSize < ones || maskSize > 32 || maskSize-ones > 16 {
		return nil, fmt.Errorf("nodeipam: cannot split %s into /%d", cidr, maskSize)
	}
	return &Allocator{base: binary.BigEndian.Uint32(ip), shift: uint(32 - maskSize), mask: maskSize,
		used: make([]bool, 1<<(maskSize-ones)), byNode: map[string]int{}}, nil
}

func (a *Allocator) cidr(i int) string {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, a.base+uint32(i)<<a.shift)
	return fmt.Sprintf("%s/%d", ip, a.mask)
}

func (a *Allocator) index(cidr string) (int, bool) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return 0, false
	}
	if ones, _ := n.Mask.Size(); ones != a.mask {
		return 0, false
	}
	off := binary.BigEndian.Uint32(n.IP.To4()) - a.base
	i := int(off >> a.shift)
	if off%(1<<a.shift) != 0 || i < 0 || i >= len(a.used) {
		return 0, false
	}
	return i, true
}

// Occupy records node's existing CIDR; false when it is outside the range.
func (a *Allocator) Occupy(node, cidr string) bool {
	i, ok := a.index(cidr)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used[i] = true
	a.byNode[node] = i
	return true
}

// Allocate returns node's CIDR, taking a free one if it has none.
func (a *Allocator) Allocate(node string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok {
		return a.cidr(i), nil
	}
	for range a.used {
		i := a.next
		a.next = (a.next + 1) % len(a.used)
		if !a.used[i] {
			a.used[i] = true
			a.byNode[node] = i
			return a.cidr(i), nil
		}
	}
	return "", ErrFull
}

// Release frees node's CIDR.
func (a *Allocator) Release(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i, ok := a.byNode[node]; ok {
		a.used[i] = false
		delete(a.byNode, node)
	}
}

// Controller is the node IPAM controller.
type Controller struct {
	client    kubernetes.Interface
	lister    corelisters.NodeLister
	synced    cache.InformerSynced
	alloc     *Allocator
	queue     workqueue.TypedRateLimitingInterface[string]
	lg        *zap.Logger
	recovered bool

	// syncHandler is a field so that tests can replace it.
	syncHandler func(ctx context.Context, key string) error
}

// New returns the node IPAM controller.
func New(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, cidr *net.IPNet, maskSize int, lg *zap.Logger) (*Controller, error) {
	if lg == nil {
		lg = zap.NewNop()
	}
	alloc, err := NewAllocator(cidr, maskSize)
	if err != nil {
		return nil, err
	}
	c := &Controller{client: client, lister: nodeInformer.Lister(), synced: nodeInformer.Informer().HasSynced,
		alloc: alloc, queue: controller.NewQueue(Name), lg: lg.With(zap.String("controller", Name))}
	c.syncHandler = c.sync
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { controller.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) {
			if n, ok := obj.(*v1.Node); ok && n.Spec.PodCIDR == "" {
				controller.Enqueue(c.queue, obj)
			}
		},
		DeleteFunc: func(obj any) { controller.Enqueue(c.queue, obj) },
	})
	return c, nil
}

// Run records the CIDRs nodes already have, then allocates until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if !cache.WaitForNamedCacheSync(Name, ctx.Done(), c.synced) {
		return fmt.Errorf("%w: %s", controller.ErrCacheSync, Name)
	}
	nodes, err := c.lister.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR != "" && !c.alloc.Occupy(n.Name, n.Spec.PodCIDR) {
			c.lg.Warn("node pod CIDR outside the cluster CIDR", zap.String("node", n.Name), zap.String("podCIDR", n.Spec.PodCIDR))
		}
	}
	return controller.RunWorkers(ctx, Name, c.lg, c.queue, workers, c.syncHandler, c.synced)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		c.alloc.Release(name)
		return nil
	}
	if err != nil {
		return err
	}
	if node.Spec.PodCIDR != "" {
		c.alloc.Occupy(name, node.Spec.PodCIDR)
		return nil
	}
	cidr, err := c.alloc.Allocate(name)
	if err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": node.UID},
		"spec":     map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}},
	})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		c.alloc.Release(name)
		return nil
	}
	if err != nil {
		return err
	}
	c.lg.Info("assigned pod CIDR", zap.String("node", name), zap.String("podCIDR", cidr))
	return nil
}
