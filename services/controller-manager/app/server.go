// Package app is drover-controller-manager: it elects a leader and, while
// leading, runs the enabled controllers.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"k8s.io/client-go/informers"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"drover.dev/controller-manager/app/config"
	"drover.dev/controller-manager/app/options"
	"drover.dev/controller-manager/internal/controller"
	"drover.dev/controller-manager/internal/controllers"
	"drover.dev/libs/bus"
	"drover.dev/libs/component"
)

// ErrNotSynced is reported by /readyz while the leader's caches fill.
var ErrNotSynced = errors.New("app: informers not synced")

// NewCommand is the drover-controller-manager command.
func NewCommand() *cobra.Command {
	opts := options.New()
	cmd := &cobra.Command{
		Use:          "drover-controller-manager",
		Short:        "Runs the controllers that turn desired state into pods, endpoints and node care",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := opts.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			c, err := config.New(opts)
			if err != nil {
				return err
			}
			cc, err := c.Complete()
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				// The informer caches are most of the heap; the default
				// doubling of a large live heap is what costs memory.
				debug.SetGCPercent(opts.GCPercent)
			}
			return Run(cmd.Context(), cc)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// Run serves health and metrics, then runs the controllers while leading. It
// returns when ctx is done or leadership is lost.
func Run(ctx context.Context, cc config.CompletedConfig) error {
	lg := cc.Logger
	o := cc.Options
	var leading, synced atomic.Bool
	srv, err := component.Serve(net.JoinHostPort(o.BindAddress, strconv.Itoa(o.Port)),
		component.Checks{"ping": func() error { return nil }},
		component.Checks{"informer-sync": func() error {
			if leading.Load() && !synced.Load() {
				return ErrNotSynced
			}
			return nil
		}}, lg)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	if err := controller.RegisterMetrics(srv.Registry); err != nil {
		return fmt.Errorf("app: metrics: %w", err)
	}
	if cc.OnListen != nil {
		cc.OnListen(srv.Addr)
	}
	lg.Info("serving health", zap.Stringer("address", srv.Addr))
	table, err := controllers.Table()
	if err != nil {
		return err
	}
	// The elector runs the leading function in its own goroutine and may
	// return before it has finished: wait for the controllers to stop.
	started := make(chan struct{})
	result := make(chan error, 1)
	err = component.RunLeading(ctx, cc.Client, cc.Leader, component.Identity(), lg, func(ctx context.Context) {
		close(started)
		leading.Store(true)
		defer leading.Store(false)
		result <- runControllers(ctx, cc, table, &synced)
	})
	var runErr error
	select {
	case <-started:
		runErr = <-result
	default:
	}
	return errors.Join(err, runErr)
}

func runControllers(ctx context.Context, cc config.CompletedConfig, table []controllers.Descriptor, synced *atomic.Bool) error {
	lg := cc.Logger
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cc.Client.CoreV1().Events("")})
	defer events.Shutdown()
	js, closeBus, err := cc.Options.Watch.Connect("drover-controller-manager", lg)
	if err != nil {
		return err
	}
	defer closeBus()
	factory := informers.NewSharedInformerFactoryWithOptions(cc.Client, 0, informers.WithTransform(controller.TrimForCache))
	if js != nil {
		// The metadata informers (garbage collector) keep watching the
		// apiserver: the bus carries whole objects of known kinds.
		rs, err := bus.Standard(cc.Client, "pods", "nodes", "namespaces", "services", "endpoints", "endpointslices",
			"serviceaccounts", "replicationcontrollers", "replicasets", "deployments")
		if err != nil {
			return err
		}
		bus.UseBus(factory, js, rs...)
	}
	cx := &controllers.Context{
		Events:    events,
		Client:    cc.Client,
		Metadata:  cc.Metadata,
		Discovery: cc.Client.Discovery(),
		Informers: factory,
		Logger:    lg,
		Settings:  cc.Settings,
	}
	type started struct {
		name    string
		workers int
		run     controllers.Runner
	}
	var runs []started
	for _, d := range table {
		if !cc.Options.Enabled(d.Name, !d.DisabledByDefault) {
			lg.Info("controller disabled", zap.String("controller", d.Name))
			continue
		}
		r, err := d.New(cx)
		if err != nil {
			return fmt.Errorf("app: controller %s: %w", d.Name, err)
		}
		if r == nil {
			continue
		}
		workers := d.Workers
		if n, ok := cc.Options.Workers[d.Name]; ok {
			workers = n
		}
		runs = append(runs, started{d.Name, workers, r})
	}
	cx.Informers.Start(ctx.Done())
	go func() {
		cx.Informers.WaitForCacheSync(ctx.Done())
		if ctx.Err() == nil {
			synced.Store(true)
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, r := range runs {
		wg.Go(func() { errs[i] = r.run.Run(ctx, r.workers) })
	}
	wg.Wait()
	cx.Informers.Shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}
