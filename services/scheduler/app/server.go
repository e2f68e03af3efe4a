// Package app is drover-scheduler's command: flags, configuration and the
// run loop (informers, health listener, leader election, scheduling).
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/uuid"

	"drover.dev/libs/component"
	"drover.dev/scheduler/app/config"
	"drover.dev/scheduler/app/options"
	"drover.dev/scheduler/internal/framework/plugins"
	"drover.dev/scheduler/internal/metrics"
	"drover.dev/scheduler/internal/scheduler"
)

// ErrNotSynced is reported by /readyz until the informers have synced.
var ErrNotSynced = errors.New("app: informers not synced")

// NewCommand returns the drover-scheduler command.
func NewCommand() *cobra.Command {
	o := options.New()
	cmd := &cobra.Command{
		Use:           "drover-scheduler",
		Short:         "drover-scheduler assigns pending pods to nodes",
		SilenceUsage:  true,
		SilenceErrors: false,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := (&config.Config{Options: o}).Complete()
			if err != nil {
				return err
			}
			defer func() { _ = cc.Logger.Sync() }()
			return Run(cmd.Context(), cc, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run runs the scheduler until ctx ends (nil error) or leadership is lost
// or something fails (error). ready, if set, gets the health listener's
// address once it listens.
func Run(ctx context.Context, cc config.CompletedConfig, ready func(net.Addr)) error {
	lg := cc.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var synced atomic.Bool
	srv, err := component.Serve(cc.HealthAddr,
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
	defer func() { _ = srv.Close() }()
	m := metrics.New(srv.Registry)

	js, closeBus, err := cc.Options.Watch.Connect("drover-scheduler", lg)
	if err != nil {
		return err
	}
	defer closeBus()
	factory, err := scheduler.NewInformerFactory(cc.Client, 0, js)
	if err != nil {
		return err
	}
	sched, err := scheduler.New(scheduler.Options{
		Client:    cc.Client,
		Informers: factory,
		Config:    cc.Scheduler,
		Registry:  plugins.NewRegistry(),
		Defaults:  plugins.DefaultPlugins(),
		Metrics:   m,
		Logger:    lg,
	})
	if err != nil {
		return err
	}
	for name, fwk := range sched.Profiles {
		lg.Info("profile", zap.String("schedulerName", name), zap.Any("plugins", fwk.ListPlugins()))
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	lg.Info("health listener started (plain HTTP)", zap.String("addr", srv.Addr.String()))
	if ready != nil {
		ready(srv.Addr)
	}
	// Informers sync before leader election, as kube-scheduler does, so a
	// new leader starts with a warm cache.
	syncStart := time.Now()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("app: cache for %v did not sync", typ)
		}
	}
	synced.Store(true)
	lg.Info("informers synced", zap.Duration("took", time.Since(syncStart)),
		zap.Int("nodes", sched.Cache.NodeCount()), zap.Int("assignedPods", sched.Cache.PodCount()))

	// A fresh identity per run, as kube-scheduler's hostname_uuid: two
	// instances in one process (tests) must not both think they hold the lease.
	identity := component.Identity() + "_" + string(uuid.NewUUID())
	err = component.RunLeading(ctx, cc.Client, cc.LeaderElection, identity, lg, func(ctx context.Context) {
		lg.Info("scheduling")
		sched.Run(ctx)
	})
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}
