// Package app is drover-dns' command: flags, configuration and the run
// loop (reflectors into the zone, DNS listeners, health listener, loop
// detection).
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"drover.dev/dns/app/config"
	"drover.dev/dns/app/options"
	"drover.dev/dns/internal/forward"
	"drover.dev/dns/internal/metrics"
	"drover.dev/dns/internal/server"
	"drover.dev/dns/internal/watcher"
	"drover.dev/dns/internal/zone"
	"drover.dev/libs/component"
)

// ErrNotSynced is reported by /readyz until the first lists reached the zone.
var ErrNotSynced = errors.New("app: informers not synced")

// NewCommand returns the drover-dns command.
func NewCommand() *cobra.Command {
	o := options.New()
	cmd := &cobra.Command{
		Use:          "drover-dns",
		Short:        "drover-dns serves the cluster domain from Services, EndpointSlices and Pods and forwards other names",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := (&config.Config{Options: o}).Complete()
			if err != nil {
				return err
			}
			defer func() { _ = cc.Logger.Sync() }()
			if os.Getenv("GOGC") == "" {
				// The zone is most of the heap and queries allocate
				// little that lives: a heap that may grow by half between
				// collections is RSS that a busy server keeps. Measured
				// with test/bench's load: 25 instead of 50 keeps 2-3 MiB
				// less after load for about 1 µs more GC CPU per query
				// (of 20-30 µs).
				debug.SetGCPercent(o.GCPercent)
			}
			return Run(cmd.Context(), cc, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Listening are the addresses Run serves on.
type Listening struct {
	// Health is the /healthz, /readyz, /metrics listener.
	Health net.Addr
	// DNS is the DNS address (UDP and TCP share the port).
	DNS *net.UDPAddr
}

// Run serves DNS until ctx ends (nil error) or something fails. ready, if
// set, gets the addresses once both listeners are up (before the watches
// have synced: /readyz says when answers are complete).
func Run(ctx context.Context, cc config.CompletedConfig, ready func(Listening)) error {
	o, lg := cc.Options, cc.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var synced atomic.Bool
	health, err := component.Serve(o.HealthAddr,
		component.Checks{"ping": func() error { return nil }},
		component.Checks{"informer-sync": func() error {
			if !synced.Load() {
				return ErrNotSynced
			}
			return nil
		}}, lg)
	if err != nil {
		return err
	}
	defer func() { _ = health.Close() }()
	m := metrics.New(health.Registry)

	z, err := zone.New(o.ClusterDomain, o.TTL, zone.PodMode(o.Pods))
	if err != nil {
		return err
	}
	fwd, err := forward.New(forward.Options{
		Upstreams: cc.Upstreams,
		Timeout:   o.UpstreamTimeout,
		Cache:     forward.NewCache(o.CacheSize, o.CacheMaxTTL, o.CacheNegativeTTL),
		Metrics:   m,
		Logger:    lg,
	})
	if err != nil {
		return err
	}
	metrics.GaugeFunc(health.Registry, "drover_dns_cache_entries", "Answers held by the forwarding cache.", func() float64 { return float64(fwd.Cache().Len()) })
	metrics.GaugeFunc(health.Registry, "drover_dns_zone_services", "Services in the cluster zone.", func() float64 { return float64(z.Stats().Services) })

	js, closeBus, err := o.Watch.Connect("drover-dns", lg)
	if err != nil {
		return err
	}
	defer closeBus()
	w := watcher.New(cc.Clients, js, z, zone.PodMode(o.Pods) == zone.PodsVerified)
	w.Start(ctx)
	defer w.Shutdown()
	defer cancel() // reflectors stop before Shutdown waits for them

	dnsSrv, err := server.Listen(o.Listen, &server.Handler{
		Zone:           z,
		Forwarder:      fwd,
		Metrics:        m,
		Logger:         lg,
		MaxUDPSize:     o.MaxUDPSize,
		ForwardTimeout: o.UpstreamTimeout * time.Duration(len(cc.Upstreams)+1),
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = dnsSrv.Shutdown(sctx)
	}()
	lg.Info("serving DNS", zap.Stringer("addr", dnsSrv.Addr), zap.String("zone", z.Origin()),
		zap.Strings("upstreams", cc.Upstreams), zap.String("health", health.Addr.String()))
	if ready != nil {
		ready(Listening{Health: health.Addr, DNS: dnsSrv.Addr})
	}
	go fwd.DetectLoops(ctx)

	syncStart := time.Now()
	if !w.WaitForSync(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("app: informers did not sync")
	}
	synced.Store(true)
	// The first lists leave their decoded pages and compact lists behind
	// as garbage; hand that memory back now rather than over the
	// scavenger's minutes.
	debug.FreeOSMemory()
	st := z.Stats()
	lg.Info("informers synced", zap.Duration("took", time.Since(syncStart)),
		zap.Int("services", st.Services), zap.Int("reverseIPs", st.ReverseIPs), zap.Int("podIPs", st.PodIPs))

	select {
	case <-ctx.Done():
		return nil
	case err := <-dnsSrv.Errors():
		return fmt.Errorf("app: dns listener stopped: %w", err)
	}
}
