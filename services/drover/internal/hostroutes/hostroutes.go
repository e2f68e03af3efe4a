// Package hostroutes keeps the host's routes to the pod CIDRs of a
// multi-node local cluster: each Node's spec.podCIDRs via its InternalIP,
// so that the host reaches pods the way a machine in the datacentre would
// with host-gw routing. The nodes route among themselves (drover-proxy).
package hostroutes

import (
	"context"
	"net/netip"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// resyncPeriod repairs routes someone removed by hand.
const resyncPeriod = 30 * time.Second

// Syncer applies the wanted routes; nodenet.Network is one.
type Syncer interface {
	SyncPodRoutes(want map[netip.Prefix]netip.Addr) error
}

// Run keeps the routes until ctx ends.
func Run(ctx context.Context, client kubernetes.Interface, routes Syncer, lg *zap.Logger) {
	if lg == nil {
		lg = zap.NewNop()
	}
	factory := informers.NewSharedInformerFactory(client, resyncPeriod)
	nodes := factory.Core().V1().Nodes()
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, obj any) { poke(obj) },
		DeleteFunc: poke,
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	factory.WaitForCacheSync(ctx.Done())
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-retry.C:
		}
		list, err := nodes.Lister().List(labels.Everything())
		if err == nil {
			err = routes.SyncPodRoutes(Want(list))
		}
		if err != nil {
			lg.Warn("failed to sync host routes to pod CIDRs; retrying", zap.Error(err))
			retry.Reset(time.Second)
		}
	}
}

// Want maps every pod CIDR of the nodes to the node's InternalIP.
func Want(nodes []*corev1.Node) map[netip.Prefix]netip.Addr {
	want := map[netip.Prefix]netip.Addr{}
	for _, n := range nodes {
		var ip netip.Addr
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if addr, err := netip.ParseAddr(a.Address); err == nil && addr.Is4() {
				ip = addr
				break
			}
		}
		if !ip.IsValid() {
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil {
				want[p.Masked()] = ip
			}
		}
	}
	return want
}
