// Package app is drover-proxy's command: flags, configuration and the run
// loop (informers, health listener, proxier).
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"

	"drover.dev/libs/bus"
	"drover.dev/libs/component"
	"drover.dev/proxy/app/config"
	"drover.dev/proxy/app/options"
	"drover.dev/proxy/internal/metrics"
	"drover.dev/proxy/internal/nft"
	"drover.dev/proxy/internal/proxier"
	"drover.dev/proxy/internal/routes"
)

// ErrNotSynced is reported by /readyz until the informers have synced.
var ErrNotSynced = errors.New("app: informers not synced")

// NewCommand returns the drover-proxy command.
func NewCommand() *cobra.Command {
	o := options.New()
	cmd := &cobra.Command{
		Use:          "drover-proxy",
		Short:        "drover-proxy forwards Services in the kernel with nftables and routes pod CIDRs between nodes",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := (&config.Config{Options: o}).Complete()
			if err != nil {
				return err
			}
			defer func() { _ = cc.Logger.Sync() }()
			if o.Cleanup {
				return Cleanup(o.NetNS)
			}
			return Run(cmd.Context(), cc, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// openNetNS opens --netns (fd -1 and a no-op close when empty).
func openNetNS(path string) (int, func(), error) {
	if path == "" {
		return -1, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return -1, nil, fmt.Errorf("app: --netns: %w", err)
	}
	return int(f.Fd()), func() { _ = f.Close() }, nil
}

// Cleanup removes both tables and our routes from the namespace.
func Cleanup(netnsPath string) error {
	fd, closeNS, err := openNetNS(netnsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	var errs []error
	for _, f := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
		errs = append(errs, nft.Cleanup(f, fd))
	}
	if m, err := routes.New(fd); err != nil {
		errs = append(errs, err)
	} else {
		_, err := m.Sync(nil)
		m.Close()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run runs the proxy until ctx ends. ready, if set, gets the health
// listener's address once it listens.
func Run(ctx context.Context, cc config.CompletedConfig, ready func(net.Addr)) error {
	lg := cc.Logger
	o := cc.Options
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now()

	fd, closeNS, err := openNetNS(o.NetNS)
	if err != nil {
		return err
	}
	defer closeNS()

	js, closeBus, err := o.Watch.Connect("drover-proxy", lg)
	if err != nil {
		return err
	}
	defer closeBus()
	factory := informers.NewSharedInformerFactory(cc.Client, 0)
	if js != nil {
		core := cc.Client.CoreV1().RESTClient()
		bus.UseBus(factory, js,
			bus.Resource{Resource: "services", Client: core, New: func() runtime.Object { return &corev1.Service{} }},
			bus.Resource{Resource: "nodes", Client: core, New: func() runtime.Object { return &corev1.Node{} }},
			bus.Resource{Group: "discovery.k8s.io", Resource: "endpointslices", Client: cc.Client.DiscoveryV1().RESTClient(),
				New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }},
		)
	}

	var pxp atomic.Pointer[proxier.Proxier]
	var synced atomic.Bool
	srv, err := component.Serve(o.HealthAddr,
		component.Checks{
			"ping": func() error { return nil },
			"sync": func() error {
				if px := pxp.Load(); px != nil {
					return px.Healthy(started)
				}
				return nil
			},
		},
		component.Checks{"informer-sync": func() error {
			if !synced.Load() {
				return ErrNotSynced
			}
			return nil
		}, "first-sync": func() error {
			if px := pxp.Load(); px == nil || px.LastSuccess().IsZero() {
				return proxier.ErrNotSynced
			}
			return nil
		}}, lg)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	m := metrics.New(srv.Registry)

	px, err := proxier.New(proxier.Options{
		Informers:         factory,
		NodeName:          cc.NodeName,
		ClusterCIDRs:      cc.ClusterCIDRs,
		NodePortCIDRs:     cc.NodePortCIDRs,
		NodePortLocalhost: o.NodePortLocalhost,
		SyncPeriod:        o.SyncPeriod,
		MinSyncPeriod:     o.MinSyncPeriod,
		NetNSFd:           fd,
		Routes:            o.Routes,
		Metrics:           m,
		Logger:            lg,
	})
	if err != nil {
		return err
	}
	pxp.Store(px)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	lg.Info("health listener started (plain HTTP)", zap.String("addr", srv.Addr.String()), zap.String("node", cc.NodeName))
	if ready != nil {
		ready(srv.Addr)
	}
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("app: cache for %v did not sync", typ)
		}
	}
	synced.Store(true)
	lg.Info("informers synced", zap.Duration("took", time.Since(started)))
	px.Run(ctx)
	return nil
}
