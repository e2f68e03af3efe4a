// Package app is drover-kubelet's command: flags, configuration and the run
// loop (node registration and heartbeats, pod workers, status, the API).
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"drover.dev/kubelet/app/config"
	"drover.dev/kubelet/app/options"
	"drover.dev/kubelet/internal/node"
	"drover.dev/kubelet/internal/pods"
	kruntime "drover.dev/kubelet/internal/runtime"
	"drover.dev/kubelet/internal/server"
	"drover.dev/kubelet/internal/static"
	"drover.dev/kubelet/internal/status"
	"drover.dev/libs/bus"
	"drover.dev/libs/component"
)

// Version is the kubelet version the Node reports.
const Version = "v1.37.2-drover"

// Errors reported by /readyz.
var (
	ErrNotRegistered = errors.New("app: node not registered yet")
	ErrNotSynced     = errors.New("app: informers not synced")
)

// NewCommand returns the drover-kubelet command.
func NewCommand() *cobra.Command {
	o := options.New()
	cmd := &cobra.Command{
		Use:          "drover-kubelet",
		Short:        "drover-kubelet runs the pods bound to its node",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := (&config.Config{Options: o}).Complete()
			if err != nil {
				return err
			}
			defer func() { _ = cc.Logger.Sync() }()
			if o.Cleanup {
				return Cleanup(cmd.Context(), cc)
			}
			return Run(cmd.Context(), cc, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Addrs are where a running kubelet listens.
type Addrs struct {
	Health, API net.Addr
}

// Run runs the kubelet until ctx ends. Containers keep running when it
// returns (a restarted kubelet adopts them). ready, if set, gets the
// listeners' addresses once the node is registered.
func Run(ctx context.Context, cc config.CompletedConfig, ready func(Addrs)) error {
	o, lg := cc.Options, cc.Logger
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rt, err := newRuntime(ctx, cc)
	if err != nil {
		return err
	}
	defer rt.close()

	var registered, synced atomic.Bool
	health, err := component.Serve(cc.HealthAddr,
		component.Checks{"runtime": func() error { return rt.Status(ctx) }},
		component.Checks{
			"node": func() error {
				if !registered.Load() {
					return ErrNotRegistered
				}
				return nil
			},
			"informer-sync": func() error {
				if !synced.Load() {
					return ErrNotSynced
				}
				return nil
			},
		}, lg)
	if err != nil {
		return err
	}
	defer func() { _ = health.Close() }()

	statuses := status.New(cc.Client, lg)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cc.EventClient.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: o.NodeName})

	api, err := server.Start(server.Options{
		Addr: cc.APIAddr, Cert: cc.ServeCert, ClientCAFile: o.ClientCAFile, Anonymous: o.AnonymousAuth,
		Runtime: rt, Logger: lg,
	})
	if err != nil {
		return err
	}
	defer func() { _ = api.Close() }()
	agent := node.New(node.Options{
		Client: cc.Client, Name: o.NodeName, Labels: o.NodeLabels, Taints: cc.Taints,
		PodCIDR: o.PodCIDR, Address: cc.NodeIP, KubeletPort: int32(api.Addr.(*net.TCPAddr).Port),
		RuntimeVersion: rt.Type() + "://" + rt.Version(), KubeletVersion: Version,
		Machine: rt.machine, MaxPods: o.MaxPods,
		RuntimeReady: func() error { return rt.Status(ctx) },
		Logger:       lg,
	})

	if err := agent.Register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	registered.Store(true)
	lg.Info("node registered", zap.String("ip", cc.NodeIP), zap.String("runtime", rt.Type()))

	// Pod CIDR: from the Node (node IPAM controller or --pod-cidr).
	var cidrSet atomic.Bool
	applyCIDR := func(n *v1.Node) {
		agent.Observe(n)
		if cidrSet.Load() || n.Spec.PodCIDR == "" {
			return
		}
		if err := rt.setPodCIDR(n.Spec.PodCIDR); err != nil {
			lg.Error("failed to use the pod CIDR", zap.String("cidr", n.Spec.PodCIDR), zap.Error(err))
			return
		}
		cidrSet.Store(true)
		lg.Info("pod CIDR", zap.String("cidr", n.Spec.PodCIDR))
	}
	if n := agent.Node(); n != nil {
		applyCIDR(n)
	}

	js, closeBus, err := o.Watch.Connect("drover-kubelet/"+o.NodeName, lg)
	if err != nil {
		return err
	}
	defer closeBus()

	manager := pods.NewManager(pods.Options{
		Client: cc.Client, Runtime: rt, Images: rt.images, Status: statuses, Recorder: recorder,
		NodeName: o.NodeName, HostIP: func() string { return cc.NodeIP },
		PodCIDRReady: cidrSet.Load,
		DNS:          pods.DNS{ClusterDNS: o.ClusterDNS, ClusterDomain: o.ClusterDomain, HostResolvConf: o.ResolvConf},
		Resync:       o.SyncFrequency,
		Logger:       lg,
	})
	api.SetPods(manager)

	// Informers: this node's pods, this node, and services for env vars.
	podInformer := podInformer(cc, js, o.NodeName)
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(cc.Client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.NodeName).String()
		}))
	svcFactory := informers.NewSharedInformerFactory(cc.Client, 0)
	if js != nil {
		bus.UseBus(svcFactory, js, bus.Resource{Resource: "services", Client: cc.Client.CoreV1().RESTClient(), New: func() runtime.Object { return &v1.Service{} }})
	}
	svcLister := svcFactory.Core().V1().Services().Lister()
	manager.SetServices(func(ns string) []*v1.Service {
		out, _ := svcLister.Services(ns).List(labels.Everything())
		if ns != "default" {
			if k, err := svcLister.Services("default").Get("kubernetes"); err == nil {
				out = append(out, k)
			}
		}
		return out
	})
	nodeInf := nodeFactory.Core().V1().Nodes().Informer()
	_, _ = nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { applyCIDR(obj.(*v1.Node)) },
		UpdateFunc: func(_, obj any) { applyCIDR(obj.(*v1.Node)) },
	})
	manager.Start(ctx)
	// Mirror pods are the apiserver's copies of static pods, which run
	// from their manifests: the kubelet does not run them again.
	_, _ = podInformer.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			p, ok := obj.(*v1.Pod)
			return ok && !static.IsMirror(p)
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { manager.Update(obj.(*v1.Pod)) },
			UpdateFunc: func(_, obj any) { manager.Update(obj.(*v1.Pod)) },
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				manager.Remove(obj.(*v1.Pod))
			},
		},
	})
	if o.PodManifestPath != "" {
		mirror := &static.Mirror{Client: cc.Client, Node: agent.Node, Logger: lg}
		src := &static.Source{Dir: o.PodManifestPath, NodeName: o.NodeName, Period: o.FileCheckFrequency, Handler: &staticPods{m: manager, mirror: mirror, ctx: ctx, lg: lg}, Logger: lg.Named("static")}
		go src.Run(ctx)
		go every(ctx, 10*time.Second, func() { ensureMirrors(ctx, manager, mirror, lg) })
	}
	go podInformer.Run(ctx.Done())
	nodeFactory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	go statuses.Run(ctx, 4)
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); agent.Run(ctx) }()

	syncStart := time.Now()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced, nodeInf.HasSynced, svcFactory.Core().V1().Services().Informer().HasSynced) {
		<-agentDone
		return nil
	}
	synced.Store(true)
	lg.Info("informers synced", zap.Duration("took", time.Since(syncStart)), zap.Int("pods", len(podInformer.GetStore().ListKeys())))
	manager.CleanupOrphans(ctx)
	lg.Info("kubelet ready", zap.String("api", api.Addr.String()), zap.String("health", health.Addr.String()))
	if ready != nil {
		ready(Addrs{Health: health.Addr, API: api.Addr})
	}
	go rt.background(ctx, manager)

	<-ctx.Done()
	manager.Wait()
	<-agentDone // the node is marked NotReady before the kubelet exits
	nodeFactory.Shutdown()
	svcFactory.Shutdown()
	return nil
}

// staticPods hands manifest pods to the pod manager and mirrors them.
type staticPods struct {
	m      *pods.Manager
	mirror *static.Mirror
	ctx    context.Context
	lg     *zap.Logger
}

func (s *staticPods) Update(pod *v1.Pod) {
	s.m.Update(pod)
	if err := s.mirror.Ensure(s.ctx, pod); err != nil {
		s.lg.Warn("failed to create mirror pod (retried)", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
	}
}

func (s *staticPods) Remove(pod *v1.Pod) {
	s.m.Remove(pod)
	if err := s.mirror.Delete(s.ctx, pod); err != nil {
		s.lg.Warn("failed to delete mirror pod", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
	}
}

// ensureMirrors recreates mirror pods someone deleted.
func ensureMirrors(ctx context.Context, m *pods.Manager, mirror *static.Mirror, lg *zap.Logger) {
	for _, p := range m.Running() {
		if static.IsStatic(p) {
			if err := mirror.Ensure(ctx, p); err != nil {
				lg.Debug("mirror pod", zap.String("pod", p.Namespace+"/"+p.Name), zap.Error(err))
			}
		}
	}
}

// Cleanup stops every container of every sandbox under the root dir and
// removes them with their networks: the node is left as if it never ran a
// pod. The pods themselves stay in the apiserver.
func Cleanup(ctx context.Context, cc config.CompletedConfig) error {
	rt, err := newRuntime(ctx, cc)
	if err != nil {
		return err
	}
	defer rt.close()
	sbs, err := rt.ListPodSandboxes(ctx)
	if err != nil {
		return err
	}
	if cc.Options.PodCIDR != "" {
		_ = rt.setPodCIDR(cc.Options.PodCIDR)
	} else if n, err := cc.Client.CoreV1().Nodes().Get(ctx, cc.Options.NodeName, metav1.GetOptions{}); err == nil && n.Spec.PodCIDR != "" {
		_ = rt.setPodCIDR(n.Spec.PodCIDR) // the network must know its range to release pod IPs
	}
	var errs []error
	for _, sb := range sbs {
		cs, _ := rt.ListContainers(ctx, sb.ID)
		for _, c := range cs {
			if c.State == kruntime.ContainerRunning {
				if err := rt.StopContainer(ctx, c.ID, 2*time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			errs = append(errs, fmt.Errorf("sandbox %s (%s/%s): %w", sb.ID, sb.Namespace, sb.Name, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, rt.removeNodeState())
	}
	cc.Logger.Info("cleaned up", zap.Int("sandboxes", len(sbs)))
	return errors.Join(errs...)
}

// podInformer watches the pods bound to this node: through the bus's
// per-node subject, or the apiserver with a spec.nodeName field selector.
func podInformer(cc config.CompletedConfig, js jetstream.JetStream, nodeName string) cache.SharedIndexInformer {
	sel := fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	var lw cache.ListerWatcher = cache.NewFilteredListWatchFromClient(cc.Client.CoreV1().RESTClient(), "pods", "", func(lo *metav1.ListOptions) {
		lo.FieldSelector = sel
	})
	if js != nil {
		lw = bus.NewNodePodsListWatch(js, nodeName, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.FieldSelector = sel
			return cc.Client.CoreV1().Pods("").List(ctx, lo)
		})
	}
	return cache.NewSharedIndexInformer(lw, &v1.Pod{}, 0, cache.Indexers{})
}
