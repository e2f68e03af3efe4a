// Package proxier connects the informers to the kernel: it tracks which
// Services changed, rebuilds their model, programs nftables (one Syncer per
// IP family), flushes stale UDP conntrack entries and keeps the host-gw
// routes. Syncs are rate-limited (MinSyncPeriod) and a full resync runs
// every SyncPeriod.
package proxier

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"drover.dev/proxy/internal/conntrack"
	"drover.dev/proxy/internal/metrics"
	"drover.dev/proxy/internal/model"
	"drover.dev/proxy/internal/nft"
	"drover.dev/proxy/internal/routes"
)

const serviceIndex = "service"

// ErrNotSynced is returned until the first full sync succeeded.
var ErrNotSynced = errors.New("proxier: no successful sync yet")

// Options configure a Proxier.
type Options struct {
	Informers     informers.SharedInformerFactory
	NodeName      string
	ClusterCIDRs  []netip.Prefix
	NodePortCIDRs []netip.Prefix
	// NodePortLocalhost also accepts NodePorts on 127.0.0.1 (IPv4 only;
	// sets route_localnet in the namespace).
	NodePortLocalhost bool
	SyncPeriod        time.Duration
	MinSyncPeriod     time.Duration
	// NetNSFd is the namespace to program (<= 0: the process's own).
	NetNSFd int
	// Routes enables host-gw routes.
	Routes  bool
	Metrics *metrics.Metrics
	Logger  *zap.Logger
}

type familyState struct {
	fam    corev1.IPFamily
	syncer *nft.Syncer
	ct     *conntrack.Flusher
	cfg    model.Config
	models map[string]*model.Service
	// written: the table was written whole once (for logs).
	written bool
}

// Proxier keeps the kernel in line with Services and EndpointSlices.
type Proxier struct {
	o        Options
	lg       *zap.Logger
	svcs     corelisters.ServiceLister
	slices   cache.Indexer
	nodes    corelisters.NodeLister
	families []*familyState
	routes   *routes.Manager

	mu          sync.Mutex
	dirty       map[string]bool
	triggers    map[string]time.Time
	nodesDirty  bool
	needFull    bool
	kick        chan struct{}
	lastSuccess time.Time
}

// New registers informers (call before the factory starts) and opens the
// netlink connections.
func New(o Options) (*Proxier, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	p := &Proxier{o: o, lg: o.Logger, dirty: map[string]bool{}, triggers: map[string]time.Time{}, needFull: true, nodesDirty: true, kick: make(chan struct{}, 1)}
	fams := []corev1.IPFamily{corev1.IPv4Protocol}
	for _, c := range o.ClusterCIDRs {
		if c.Addr().Is6() {
			fams = append(fams, corev1.IPv6Protocol)
			break
		}
	}
	for _, f := range fams {
		var cidrs []netip.Prefix
		for _, c := range o.ClusterCIDRs {
			if c.Addr().Is4() == (f == corev1.IPv4Protocol) {
				cidrs = append(cidrs, c)
			}
		}
		np, err := nodePortAddrs(o.NetNSFd, f, o.NodePortCIDRs, o.NodePortLocalhost)
		if err != nil {
			return nil, err
		}
		if len(o.NodePortCIDRs) > 0 && len(np.IPs) == 0 {
			o.Logger.Warn("no local address matches --nodeport-addresses: NodePorts answer nowhere", zap.String("family", string(f)))
		}
		if np.LoopbackAllowed() {
			if err := setRouteLocalnet(o.NetNSFd); err != nil {
				return nil, fmt.Errorf("proxier: route_localnet: %w", err)
			}
		}
		s, err := nft.New(nft.Options{Family: f, NetNSFd: o.NetNSFd, ClusterCIDRs: cidrs, NodePorts: np})
		if err != nil {
			return nil, err
		}
		ct, err := conntrack.New(o.NetNSFd)
		if err != nil {
			return nil, err
		}
		p.families = append(p.families, &familyState{fam: f, syncer: s, ct: ct,
			cfg: model.Config{Family: f, NodeName: o.NodeName, ClusterCIDRs: cidrs}, models: map[string]*model.Service{}})
	}
	if o.Routes {
		m, err := routes.New(o.NetNSFd)
		if err != nil {
			return nil, err
		}
		p.routes = m
	}

	svcInf := o.Informers.Core().V1().Services()
	sliceInf := o.Informers.Discovery().V1().EndpointSlices()
	p.svcs = svcInf.Lister()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{serviceIndex: func(obj any) ([]string, error) {
		sl, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return nil, nil
		}
		if n := sl.Labels[discoveryv1.LabelServiceName]; n != "" {
			return []string{sl.Namespace + "/" + n}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("proxier: index: %w", err)
	}
	p.slices = sliceInf.Informer().GetIndexer()
	onSvc := func(obj any) {
		if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			p.mark(k, time.Time{})
		}
	}
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		sl, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || sl.Labels[discoveryv1.LabelServiceName] == "" {
			return
		}
		trigger := time.Now()
		if s := sl.Annotations[corev1.EndpointsLastChangeTriggerTime]; s != "" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				trigger = t
			}
		}
		p.mark(sl.Namespace+"/"+sl.Labels[discoveryv1.LabelServiceName], trigger)
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSvc, UpdateFunc: func(_, n any) { onSvc(n) }, DeleteFunc: onSvc,
	}); err != nil {
		return nil, err
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, n any) { onSlice(n) }, DeleteFunc: onSlice,
	}); err != nil {
		return nil, err
	}
	if o.Routes {
		nodeInf := o.Informers.Core().V1().Nodes()
		p.nodes = nodeInf.Lister()
		onNode := func(any) {
			p.mu.Lock()
			p.nodesDirty = true
			p.mu.Unlock()
			p.signal()
		}
		if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: onNode, UpdateFunc: func(_, n any) { onNode(n) }, DeleteFunc: onNode,
		}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Proxier) mark(key string, trigger time.Time) {
	p.mu.Lock()
	p.dirty[key] = true
	if !trigger.IsZero() {
		if t, ok := p.triggers[key]; !ok || trigger.Before(t) {
			p.triggers[key] = trigger
		}
	}
	p.mu.Unlock()
	p.signal()
}

func (p *Proxier) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// LastSuccess is when the last sync succeeded (zero before the first).
func (p *Proxier) LastSuccess() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSuccess
}

// Healthy fails when syncs stopped succeeding: nothing for two sync periods.
func (p *Proxier) Healthy(started time.Time) error {
	last := p.LastSuccess()
	limit := 2*p.o.SyncPeriod + p.o.MinSyncPeriod + 10*time.Second
	if last.IsZero() {
		if time.Since(started) > limit {
			return ErrNotSynced
		}
		return nil
	}
	if d := time.Since(last); d > limit {
		return fmt.Errorf("proxier: last successful sync %v ago", d.Round(time.Second))
	}
	return nil
}

// Stats returns the nftables counts per family.
func (p *Proxier) Stats() map[corev1.IPFamily]nft.Stats {
	out := map[corev1.IPFamily]nft.Stats{}
	for _, f := range p.families {
		out[f.fam] = f.syncer.Stats()
	}
	return out
}

// Run syncs until ctx ends. The informers must have synced.
func (p *Proxier) Run(ctx context.Context) {
	defer p.close()
	ticker := time.NewTicker(p.o.SyncPeriod)
	defer ticker.Stop()
	var last time.Time
	for {
		if wait := p.o.MinSyncPeriod - time.Since(last); wait > 0 && !last.IsZero() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		p.SyncOnce()
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-ticker.C:
			p.mu.Lock()
			p.needFull = true
			p.mu.Unlock()
		}
	}
}

func (p *Proxier) close() {
	for _, f := range p.families {
		_ = f.syncer.Close()
		f.ct.Close()
	}
	if p.routes != nil {
		p.routes.Close()
	}
}

// SyncOnce programs what changed (everything when a full sync is due).
func (p *Proxier) SyncOnce() {
	p.mu.Lock()
	full, dirty, triggers, nodesDirty := p.needFull, p.dirty, p.triggers, p.nodesDirty
	p.needFull, p.dirty, p.triggers, p.nodesDirty = false, map[string]bool{}, map[string]time.Time{}, false
	p.mu.Unlock()

	ok := true
	if full || len(dirty) > 0 {
		if err := p.syncServices(full, dirty); err != nil {
			ok = false
			p.o.Metrics.SyncErrors.Inc()
			p.lg.Error("sync failed; next sync is full", zap.Bool("full", full), zap.Error(err))
			p.mu.Lock()
			p.needFull = true
			p.mu.Unlock()
			p.signal()
		} else {
			now := time.Now()
			for _, t := range triggers {
				p.o.Metrics.ProgrammingLatency.Observe(now.Sub(t).Seconds())
			}
		}
	}
	if p.routes != nil && (full || nodesDirty) {
		nodes, err := p.nodes.List(everything)
		if err == nil {
			var n int
			n, err = p.routes.Sync(routes.Desired(p.o.NodeName, nodes))
			p.o.Metrics.Routes.Set(float64(n))
		}
		if err != nil {
			p.o.Metrics.RouteErrors.Inc()
			p.lg.Warn("routes", zap.Error(err))
		}
	}
	if ok {
		p.mu.Lock()
		p.lastSuccess = time.Now()
		p.mu.Unlock()
		p.o.Metrics.LastSync.SetToCurrentTime()
	}
}

func (p *Proxier) syncServices(full bool, dirty map[string]bool) error {
	start := time.Now()
	keys := dirty
	if full {
		keys = map[string]bool{}
		all, err := p.svcs.List(everything)
		if err != nil {
			return err
		}
		for _, s := range all {
			keys[s.Namespace+"/"+s.Name] = true
		}
		for _, f := range p.families {
			for k := range f.models {
				keys[k] = true
			}
		}
	}
	var errs []error
	for _, f := range p.families {
		changed := make(map[string]*model.Service, len(keys))
		for k := range keys {
			changed[k] = p.build(f, k)
		}
		if err := f.syncer.Sync(changed, full); err != nil {
			errs = append(errs, err)
			continue
		}
		if full {
			// A restarted proxy rewrites the table in place, keeping
			// affinity entries; say so, and say when that failed.
			if d := f.syncer.LastDrift(); d != "" {
				p.lg.Warn("nftables table differed from what was programmed; rewrote it",
					zap.String("family", string(f.fam)), zap.String("drift", d), zap.String("how", f.syncer.LastReplace()))
			} else if !f.written {
				p.lg.Info("nftables table written", zap.String("family", string(f.fam)), zap.String("how", f.syncer.LastReplace()))
			}
			f.written = true
		}
		var filters int
		for k, nw := range changed {
			old := f.models[k]
			if fl := conntrack.Stale(old, nw); len(fl) > 0 {
				filters += len(fl)
				n, err := f.ct.Delete(f.fam == corev1.IPv6Protocol, fl)
				p.o.Metrics.ConntrackDeleted.Add(float64(n))
				if err != nil {
					p.lg.Warn("conntrack cleanup", zap.String("service", k), zap.Error(err))
				}
			}
			if nw == nil {
				delete(f.models, k)
			} else {
				f.models[k] = nw
			}
		}
		st := f.syncer.Stats()
		fam := string(f.fam)
		p.o.Metrics.Objects.WithLabelValues(fam, "chains").Set(float64(st.Chains))
		p.o.Metrics.Objects.WithLabelValues(fam, "rules").Set(float64(st.Rules))
		p.o.Metrics.Objects.WithLabelValues(fam, "elements").Set(float64(st.Elements))
		p.o.Metrics.Objects.WithLabelValues(fam, "services").Set(float64(st.Services))
	}
	mode := "partial"
	if full {
		mode = "full"
	}
	p.o.Metrics.SyncDuration.WithLabelValues(mode).Observe(time.Since(start).Seconds())
	p.lg.Debug("synced", zap.String("mode", mode), zap.Int("services", len(keys)), zap.Duration("took", time.Since(start)))
	return errors.Join(errs...)
}

// build returns the model of one Service, nil when it is gone or adds nothing.
func (p *Proxier) build(f *familyState, key string) *model.Service {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := p.svcs.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	objs, _ := p.slices.ByIndex(serviceIndex, key)
	slices := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			slices = append(slices, sl)
		}
	}
	m := model.Build(f.cfg, svc, slices)
	if m.Empty() {
		return nil
	}
	return m
}
