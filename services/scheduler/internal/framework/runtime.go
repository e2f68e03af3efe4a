package framework

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"drover.dev/scheduler/internal/apis/config"
)

// ErrUnknownPlugin is returned for a configured plugin that is not registered.
var ErrUnknownPlugin = errors.New("framework: unknown plugin")

// DefaultPlugin is a plugin of the default set with its score weight.
type DefaultPlugin struct {
	Name   string
	Weight int32
}

type scorePlugin struct {
	ScorePlugin
	weight int64
}

// Framework runs one profile's plugins.
type Framework struct {
	profileName string
	preFilter   []PreFilterPlugin
	filter      []FilterPlugin
	postFilter  []PostFilterPlugin
	preScore    []PreScorePlugin
	score       []scorePlugin
	reserve     []ReservePlugin
	permit      []PermitPlugin
	preBind     []PreBindPlugin
	bind        []BindPlugin
	// events maps plugin names to the cluster events that may help pods
	// they rejected.
	events map[string][]ClusterEvent

	percentageOfNodesToScore *int32

	snapshot    NodeInfoLister
	client      kubernetes.Interface
	informers   informers.SharedInformerFactory
	lg          *zap.Logger
	recorder    record.EventRecorder
	parallel    Parallelizer
	nominator   Nominator
	waitingPods *waitingPods
	// scoreBuf and totalsBuf are reused across cycles (one cycle at a time).
	scoreBuf  []NodeScoreList
	totalsBuf []int64
}

// Options are what the framework hands to plugins through Handle.
type Options struct {
	Snapshot    NodeInfoLister
	Client      kubernetes.Interface
	Informers   informers.SharedInformerFactory
	Logger      *zap.Logger
	Parallelism int
	Nominator   Nominator
	// EventRecorder records events of plugins (none when nil).
	EventRecorder record.EventRecorder
}

// New builds a profile's framework: the default plugins, changed by the
// profile's enabled/disabled lists, each plugin built once with its args.
func New(registry Registry, defaults []DefaultPlugin, profile *config.Profile, opts Options) (*Framework, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = config.DefaultParallelism
	}
	if opts.EventRecorder == nil {
		opts.EventRecorder = &record.FakeRecorder{}
	}
	f := &Framework{
		profileName:              profile.SchedulerName,
		percentageOfNodesToScore: profile.PercentageOfNodesToScore,
		snapshot:                 opts.Snapshot,
		client:                   opts.Client,
		informers:                opts.Informers,
		lg:                       opts.Logger,
		recorder:                 opts.EventRecorder,
		parallel:                 parallelizer(opts.Parallelism),
		nominator:                opts.Nominator,
		waitingPods:              &waitingPods{pods: map[types.UID]*waitingPod{}},
		events:                   map[string][]ClusterEvent{},
	}
	args := map[string][]byte{}
	for _, pc := range profile.PluginConfig {
		args[pc.Name] = pc.Args
	}
	instances := map[string]Plugin{}
	get := func(name string) (Plugin, error) {
		if p, ok := instances[name]; ok {
			return p, nil
		}
		factory, ok := registry[name]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownPlugin, name)
		}
		p, err := factory(args[name], f)
		if err != nil {
			return nil, fmt.Errorf("framework: plugin %q: %w", name, err)
		}
		instances[name] = p
		if ee, ok := p.(EnqueueExtensions); ok {
			f.events[name] = ee.EventsToRegister()
		} else {
			f.events[name] = []ClusterEvent{{Resource: EventWildCard, ActionType: All}}
		}
		return p, nil
	}
	plugins := profile.Plugins
	if plugins == nil {
		plugins = &config.Plugins{}
	}
	multi := applySet(defaults, plugins.MultiPoint)
	for _, d := range multi {
		if _, err := get(d.Name); err != nil {
			return nil, err
		}
	}
	// point returns the plugins enabled at one extension point: those of
	// the multi-point set that implement it, changed by the point's set.
	point := func(implements func(Plugin) bool, set config.PluginSet) ([]Plugin, []int64, error) {
		var base []DefaultPlugin
		for _, d := range multi {
			if implements(instances[d.Name]) {
				base = append(base, d)
			}
		}
		var out []Plugin
		var weights []int64
		for _, d := range applySet(base, set) {
			p, err := get(d.Name)
			if err != nil {
				return nil, nil, err
			}
			if !implements(p) {
				return nil, nil, fmt.Errorf("framework: plugin %q does not implement this extension point", d.Name)
			}
			w := int64(d.Weight)
			if w == 0 {
				w = 1
			}
			out = append(out, p)
			weights = append(weights, w)
		}
		return out, weights, nil
	}
	type ep struct {
		set        config.PluginSet
		implements func(Plugin) bool
		add        func(Plugin, int64)
	}
	points := []ep{
		{plugins.PreFilter, is[PreFilterPlugin], func(p Plugin, _ int64) { f.preFilter = append(f.preFilter, p.(PreFilterPlugin)) }},
		{plugins.Filter, is[FilterPlugin], func(p Plugin, _ int64) { f.filter = append(f.filter, p.(FilterPlugin)) }},
		{plugins.PostFilter, is[PostFilterPlugin], func(p Plugin, _ int64) { f.postFilter = append(f.postFilter, p.(PostFilterPlugin)) }},
		{plugins.PreScore, is[PreScorePlugin], func(p Plugin, _ int64) { f.preScore = append(f.preScore, p.(PreScorePlugin)) }},
		{plugins.Score, is[ScorePlugin], func(p Plugin, w int64) { f.score = append(f.score, scorePlugin{p.(ScorePlugin), w}) }},
		{plugins.Reserve, is[ReservePlugin], func(p Plugin, _ int64) { f.reserve = append(f.reserve, p.(ReservePlugin)) }},
		{plugins.Permit, is[PermitPlugin], func(p Plugin, _ int64) { f.permit = append(f.permit, p.(PermitPlugin)) }},
		{plugins.PreBind, is[PreBindPlugin], func(p Plugin, _ int64) { f.preBind = append(f.preBind, p.(PreBindPlugin)) }},
		{plugins.Bind, is[BindPlugin], func(p Plugin, _ int64) { f.bind = append(f.bind, p.(BindPlugin)) }},
	}
	for _, e := range points {
		ps, ws, err := point(e.implements, e.set)
		if err != nil {
			return nil, err
		}
		for i, p := range ps {
			e.add(p, ws[i])
		}
	}
	if len(f.bind) == 0 {
		return nil, fmt.Errorf("framework: profile %q has no bind plugin", profile.SchedulerName)
	}
	return f, nil
}

func is[T any](p Plugin) bool { _, ok := p.(T); return ok }

// applySet removes the disabled ("*": all) and appends the enabled
// plugins; enabling a present plugin changes its weight.
func applySet(base []DefaultPlugin, set config.PluginSet) []DefaultPlugin {
	disabled := map[string]bool{}
	for _, d := range set.Disabled {
		disabled[d.Name] = true
	}
	var out []DefaultPlugin
	if !disabled["*"] {
		for _, d := range base {
			if !disabled[d.Name] {
				out = append(out, d)
			}
		}
	}
	for _, e := range set.Enabled {
		found := false
		for i := range out {
			if out[i].Name == e.Name {
				if e.Weight != 0 {
					out[i].Weight = e.Weight
				}
				found = true
			}
		}
		if !found {
			out = append(out, DefaultPlugin{Name: e.Name, Weight: e.Weight})
		}
	}
	return out
}

// ProfileName is the schedulerName served.
func (f *Framework) ProfileName() string { return f.profileName }

// PercentageOfNodesToScore is the profile's override (nil: global).
func (f *Framework) PercentageOfNodesToScore() *int32 { return f.percentageOfNodesToScore }

// HasFilterPlugins reports whether any filter is enabled.
func (f *Framework) HasFilterPlugins() bool { return len(f.filter) > 0 }

// HasScorePlugins reports whether any score plugin is enabled.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// HasPostFilterPlugins reports whether any PostFilter is enabled.
func (f *Framework) HasPostFilterPlugins() bool { return len(f.postFilter) > 0 }

// EventsToRegister returns, per plugin, the events that may help pods it rejected.
func (f *Framework) EventsToRegister() map[string][]ClusterEvent { return f.events }

// ListPlugins lists the enabled plugins per extension point (for logs and tests).
func (f *Framework) ListPlugins() map[string][]string {
	out := map[string][]string{}
	add := func(pt string, p Plugin) { out[pt] = append(out[pt], p.Name()) }
	for _, p := range f.preFilter {
		add("PreFilter", p)
	}
	for _, p := range f.filter {
		add("Filter", p)
	}
	for _, p := range f.postFilter {
		add("PostFilter", p)
	}
	for _, p := range f.preScore {
		add("PreScore", p)
	}
	for _, p := range f.score {
		out["Score"] = append(out["Score"], fmt.Sprintf("%s:%d", p.Name(), p.weight))
	}
	for _, p := range f.reserve {
		add("Reserve", p)
	}
	for _, p := range f.permit {
		add("Permit", p)
	}
	for _, p := range f.preBind {
		add("PreBind", p)
	}
	for _, p := range f.bind {
		add("Bind", p)
	}
	return out
}

// Handle implementation.

// SnapshotSharedLister implements Handle.
func (f *Framework) SnapshotSharedLister() NodeInfoLister { return f.snapshot }

// ClientSet implements Handle.
func (f *Framework) ClientSet() kubernetes.Interface { return f.client }

// SharedInformerFactory implements Handle.
func (f *Framework) SharedInformerFactory() informers.SharedInformerFactory { return f.informers }

// Logger implements Handle.
func (f *Framework) Logger() *zap.Logger { return f.lg }

// EventRecorder implements Handle.
func (f *Framework) EventRecorder() record.EventRecorder { return f.recorder }

// Parallelizer implements Handle.
func (f *Framework) Parallelizer() Parallelizer { return f.parallel }

// NominatedPodsForNode implements Nominator.
func (f *Framework) NominatedPodsForNode(nodeName string) []*PodInfo {
	if f.nominator == nil {
		return nil
	}
	return f.nominator.NominatedPodsForNode(nodeName)
}

type parallelizer int

func (p parallelizer) Until(ctx context.Context, pieces int, work func(i int)) {
	if pieces <= 0 {
		return
	}
	chunk := pieces / (int(p) * 4)
	if chunk < 1 {
		chunk = 1
	}
	workers := min(int(p), (pieces+chunk-1)/chunk)
	var next atomic.Int64
	run := func() {
		for ctx.Err() == nil {
			start := int(next.Add(int64(chunk))) - chunk
			if start >= pieces {
				return
			}
			for i := start; i < min(start+chunk, pieces); i++ {
				work(i)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// Extension points.

// RunPreFilterPlugins runs every PreFilter; the result intersects their node sets.
// rejectedBy names the plugin that rejected the pod.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod) (*PreFilterResult, *Status) {
	var result *PreFilterResult
	skip := map[string]struct{}{}
	for _, pl := range f.preFilter {
		r, s := pl.PreFilter(ctx, state, pod)
		if s.IsSkip() {
			skip[pl.Name()] = struct{}{}
			continue
		}
		if !s.IsSuccess() {
			return nil, s.WithPlugin(pl.Name())
		}
		if r != nil && r.NodeNames != nil {
			if result == nil {
				result = r
			} else {
				merged := map[string]struct{}{}
				for n := range r.NodeNames {
					if _, ok := result.NodeNames[n]; ok {
						merged[n] = struct{}{}
					}
				}
				result = &PreFilterResult{NodeNames: merged}
			}
			if len(result.NodeNames) == 0 {
				return nil, NewStatus(UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) ["+pl.Name()+"] simultaneously").WithPlugin(pl.Name())
			}
		}
	}
	state.SkipFilter = skip
	// Resolved once here: Filter runs for thousands of nodes per cycle.
	state.filters = make([]FilterPlugin, 0, len(f.filter))
	for _, pl := range f.filter {
		if _, ok := skip[pl.Name()]; !ok {
			state.filters = append(state.filters, pl)
		}
	}
	return result, nil
}

// RunPreFilterExtensionAddPod implements PluginRunner.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToAdd *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if _, skip := state.SkipFilter[pl.Name()]; skip {
			continue
		}
		if ext := pl.PreFilterExtensions(); ext != nil {
			if s := ext.AddPod(ctx, state, podToSchedule, podInfoToAdd, nodeInfo); !s.IsSuccess() {
				return s.WithPlugin(pl.Name())
			}
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod implements PluginRunner.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *v1.Pod, podInfoToRemove *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, pl := range f.preFilter {
		if _, skip := state.SkipFilter[pl.Name()]; skip {
			continue
		}
		if ext := pl.PreFilterExtensions(); ext != nil {
			if s := ext.RemovePod(ctx, state, podToSchedule, podInfoToRemove, nodeInfo); !s.IsSuccess() {
				return s.WithPlugin(pl.Name())
			}
		}
	}
	return nil
}

// RunFilterPlugins stops at the first rejecting filter.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	if state.filters != nil {
		for _, pl := range state.filters {
			if s := pl.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
				if !s.IsRejected() {
					s = AsStatus(fmt.Errorf("framework: filter %q: %w", pl.Name(), s.AsError()))
				}
				return s.WithPlugin(pl.Name())
			}
		}
		return nil
	}
	for _, pl := range f.filter {
		if _, skip := state.SkipFilter[pl.Name()]; skip {
			continue
		}
		if s := pl.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("framework: filter %q: %w", pl.Name(), s.AsError()))
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunFilterPluginsWithNominatedPods filters as Kubernetes does when pods
// of at least the same priority are nominated to the node: once with them
// added (they will take the room), and, if that passes, once without them
// (anti-affinity to them must not be what lets the pod fit).
func (f *Framework) RunFilterPluginsWithNominatedPods(ctx context.Context, state *CycleState, pod *v1.Pod, nodeInfo *NodeInfo) *Status {
	var nominated []*PodInfo
	if f.nominator != nil && nodeInfo.Node() != nil {
		for _, pi := range f.nominator.NominatedPodsForNode(nodeInfo.Node().Name) {
			if pi.Pod.UID != pod.UID && PodPriority(pi.Pod) >= PodPriority(pod) {
				nominated = append(nominated, pi)
			}
		}
	}
	if len(nominated) == 0 {
		return f.RunFilterPlugins(ctx, state, pod, nodeInfo)
	}
	ni := nodeInfo.Clone()
	st := state.Clone()
	for _, pi := range nominated {
		ni.AddPodInfo(pi)
		if s := f.RunPreFilterExtensionAddPod(ctx, st, pod, pi, ni); !s.IsSuccess() {
			return s
		}
	}
	if s := f.RunFilterPlugins(ctx, st, pod, ni); !s.IsSuccess() {
		return s
	}
	return f.RunFilterPlugins(ctx, state, pod, nodeInfo)
}

// RunPostFilterPlugins runs PostFilters until one succeeds.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, statuses NodeToStatusMap) (*PostFilterResult, *Status) {
	var msgs []string
	var result *PostFilterResult
	for _, pl := range f.postFilter {
		r, s := pl.PostFilter(ctx, state, pod, statuses)
		if s.IsSuccess() {
			return r, s
		}
		if s.Code() == Error {
			return nil, s.WithPlugin(pl.Name())
		}
		if r != nil {
			result = r
		}
		msgs = append(msgs, s.Message())
	}
	return result, NewStatus(Unschedulable, msgs...)
}

// RunPreScorePlugins prepares scoring; Skip disables that plugin's Score.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status {
	skip := map[string]struct{}{}
	for _, pl := range f.preScore {
		s := pl.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			skip[pl.Name()] = struct{}{}
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("framework: prescore %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	state.SkipScore = skip
	return nil
}

// RunScorePlugins returns the weighted total score of every node, in the
// order of nodes.
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) ([]int64, *Status) {
	var active []scorePlugin
	for _, pl := range f.score {
		if _, skip := state.SkipScore[pl.Name()]; !skip {
			active = append(active, pl)
		}
	}
	totals := grow(f.totalsBuf, len(nodes))
	f.totalsBuf = totals
	clear(totals)
	if len(active) == 0 {
		return totals, nil
	}
	for len(f.scoreBuf) < len(active) {
		f.scoreBuf = append(f.scoreBuf, nil)
	}
	scores := f.scoreBuf[:len(active)]
	for i := range active {
		scores[i] = grow(scores[i], len(nodes))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errOnce sync.Once
	var firstErr *Status
	f.parallel.Until(ctx, len(nodes), func(n int) {
		for i, pl := range active {
			s, st := pl.Score(ctx, state, pod, nodes[n])
			if !st.IsSuccess() {
				errOnce.Do(func() {
					firstErr = AsStatus(fmt.Errorf("framework: score %q: %w", pl.Name(), st.AsError())).WithPlugin(pl.Name())
				})
				cancel()
				return
			}
			scores[i][n] = NodeScore{Name: nodes[n].Node().Name, Score: s}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	for i, pl := range active {
		if ext := pl.ScoreExtensions(); ext != nil {
			if st := ext.NormalizeScore(ctx, state, pod, scores[i]); !st.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("framework: normalize %q: %w", pl.Name(), st.AsError())).WithPlugin(pl.Name())
			}
		}
		for n, s := range scores[i] {
			if s.Score > MaxNodeScore || s.Score < MinNodeScore {
				return nil, AsStatus(fmt.Errorf("framework: plugin %q returned score %d outside [%d, %d]", pl.Name(), s.Score, MinNodeScore, MaxNodeScore))
			}
			totals[n] += s.Score * pl.weight
		}
	}
	return totals, nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// RunReservePluginsReserve reserves in order; the caller unreserves on failure.
func (f *Framework) RunReservePluginsReserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.reserve {
		if s := pl.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("framework: reserve %q: %w", pl.Name(), s.AsError()))
			}
			return s.WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunReservePluginsUnreserve undoes reservations in reverse order.
func (f *Framework) RunReservePluginsUnreserve(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// RunPermitPlugins asks every Permit plugin; Wait holds the pod until
// WaitOnPermit is resolved by Allow/Reject or the longest timeout.
func (f *Framework) RunPermitPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	waits := map[string]time.Duration{}
	for _, pl := range f.permit {
		s, timeout := pl.Permit(ctx, state, pod, nodeName)
		switch {
		case s.IsWait():
			if timeout > 15*time.Minute {
				timeout = 15 * time.Minute
			}
			waits[pl.Name()] = timeout
		case !s.IsSuccess():
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("framework: permit %q: %w", pl.Name(), s.AsError()))
			}
			return s.WithPlugin(pl.Name())
		}
	}
	if len(waits) > 0 {
		f.waitingPods.add(newWaitingPod(pod, waits))
		return NewStatus(Wait)
	}
	return nil
}

// WaitOnPermit blocks while the pod is held at Permit.
func (f *Framework) WaitOnPermit(ctx context.Context, pod *v1.Pod) *Status {
	wp := f.waitingPods.get(pod.UID)
	if wp == nil {
		return nil
	}
	defer f.waitingPods.remove(pod.UID)
	select {
	case s := <-wp.done:
		return s
	case <-ctx.Done():
		return AsStatus(ctx.Err())
	}
}

// GetWaitingPod implements Handle.
func (f *Framework) GetWaitingPod(uid string) WaitingPod {
	if wp := f.waitingPods.get(types.UID(uid)); wp != nil {
		return wp
	}
	return nil
}

// RunPreBindPlugins runs PreBind plugins in order.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.preBind {
		if s := pl.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			return AsStatus(fmt.Errorf("framework: prebind %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
	}
	return nil
}

// RunBindPlugins binds with the first bind plugin that does not Skip.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *v1.Pod, nodeName string) *Status {
	for _, pl := range f.bind {
		s := pl.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("framework: bind %q: %w", pl.Name(), s.AsError())).WithPlugin(pl.Name())
		}
		return nil
	}
	return NewStatus(Error, "no bind plugin bound the pod")
}

type waitingPods struct {
	mu   sync.Mutex
	pods map[types.UID]*waitingPod
}

func (w *waitingPods) add(p *waitingPod) {
	w.mu.Lock()
	w.pods[p.pod.UID] = p
	w.mu.Unlock()
}

func (w *waitingPods) get(uid types.UID) *waitingPod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pods[uid]
}

func (w *waitingPods) remove(uid types.UID) {
	w.mu.Lock()
	if p := w.pods[uid]; p != nil {
		p.stopTimers()
	}
	delete(w.pods, uid)
	w.mu.Unlock()
}

type waitingPod struct {
	pod     *v1.Pod
	mu      sync.Mutex
	pending map[string]*time.Timer
	done    chan *Status
}

func newWaitingPod(pod *v1.Pod, waits map[string]time.Duration) *waitingPod {
	wp := &waitingPod{pod: pod, pending: map[string]*time.Timer{}, done: make(chan *Status, 1)}
	for name, d := range waits {
		wp.pending[name] = time.AfterFunc(d, func() {
			wp.Reject(name, "rejected due to timeout after waiting "+d.String()+" at plugin "+name)
		})
	}
	return wp
}

func (w *waitingPod) Pod() *v1.Pod { return w.pod }

func (w *waitingPod) Allow(pluginName string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.pending[pluginName]; ok {
		t.Stop()
		delete(w.pending, pluginName)
	}
	if len(w.pending) == 0 {
		select {
		case w.done <- nil:
		default:
		}
	}
}

func (w *waitingPod) Reject(pluginName, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.done <- NewStatus(Unschedulable, msg).WithPlugin(pluginName):
	default:
	}
}

func (w *waitingPod) stopTimers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.pending {
		t.Stop()
	}
}
