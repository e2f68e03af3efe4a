// Package defaultpreemption is the PostFilter that makes room for a pod
// that fits nowhere: on each node where removing lower-priority pods could
// help, it finds the fewest, lowest-priority victims (sparing pods whose
// PodDisruptionBudget allows no disruption where it can), picks the best
// node, deletes the victims and nominates the node for the pod.
package defaultpreemption

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	policylisters "k8s.io/client-go/listers/policy/v1"

	"drover.dev/scheduler/internal/framework"
)

// Name is the plugin's name in configuration.
const Name = "DefaultPreemption"

// Messages, as in Kubernetes.
const (
	msgNotHelpful = "Preemption is not helpful for scheduling"
	msgNoVictims  = "No preemption victims found for incoming pod"
)

// Defaults of Args, as in Kubernetes.
const (
	DefaultMinCandidateNodesPercentage = 10
	DefaultMinCandidateNodesAbsolute   = 100
)

// Args are DefaultPreemptionArgs: the dry run stops once it has found
// max(percentage% of the potential nodes, absolute) candidates, at least
// one of them violating no PodDisruptionBudget.
type Args struct {
	MinCandidateNodesPercentage *int32 `json:"minCandidateNodesPercentage,omitempty"`
	MinCandidateNodesAbsolute   *int32 `json:"minCandidateNodesAbsolute,omitempty"`
}

// DefaultPreemption is the plugin.
type DefaultPreemption struct {
	h          framework.Handle
	pdbs       policylisters.PodDisruptionBudgetLister
	percentage int32
	absolute   int32
	// offset picks where the dry run starts among n potential nodes
	// (random, so that preemption does not always hit the same nodes).
	offset func(n int) int
}

var (
	_ framework.PostFilterPlugin = &DefaultPreemption{}
)

// New builds the plugin.
func New(raw json.RawMessage, h framework.Handle) (framework.Plugin, error) {
	var args Args
	if err := framework.DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	pl := &DefaultPreemption{h: h, percentage: DefaultMinCandidateNodesPercentage, absolute: DefaultMinCandidateNodesAbsolute, offset: rand.IntN}
	if args.MinCandidateNodesPercentage != nil {
		pl.percentage = *args.MinCandidateNodesPercentage
	}
	if args.MinCandidateNodesAbsolute != nil {
		pl.absolute = *args.MinCandidateNodesAbsolute
	}
	if pl.percentage < 0 || pl.percentage > 100 {
		return nil, fmt.Errorf("defaultpreemption: minCandidateNodesPercentage %d is not in [0, 100]", pl.percentage)
	}
	if pl.absolute < 0 {
		return nil, fmt.Errorf("defaultpreemption: minCandidateNodesAbsolute %d is negative", pl.absolute)
	}
	if pl.percentage == 0 && pl.absolute == 0 {
		return nil, fmt.Errorf("defaultpreemption: minCandidateNodesPercentage and minCandidateNodesAbsolute are both 0")
	}
	if f := h.SharedInformerFactory(); f != nil {
		pl.pdbs = f.Policy().V1().PodDisruptionBudgets().Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (pl *DefaultPreemption) Name() string { return Name }

type candidate struct {
	node          string
	victims       []*framework.PodInfo
	pdbViolations int
}

// PostFilter implements framework.PostFilterPlugin.
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, statuses framework.NodeToStatusMap) (*framework.PostFilterResult, *framework.Status) {
	if ok, msg := pl.eligible(pod); !ok {
		return nil, framework.NewStatus(framework.Unschedulable, "preemption: "+msg)
	}
	all := pl.h.SnapshotSharedLister().List()
	var potential []*framework.NodeInfo
	result := framework.NodeToStatusMap{}
	for _, ni := range all {
		name := ni.Node().Name
		if st, ok := statuses[name]; ok && st.Code() == framework.UnschedulableAndUnresolvable {
			result[name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNotHelpful)
			continue
		}
		potential = append(potential, ni)
	}
	pdbs := pl.listPDBs(pod.Namespace)
	cands := make([]*candidate, len(potential))
	statusesOut := make([]*framework.Status, len(potential))
	// As Kubernetes: start at a random node and stop once enough
	// candidates are found, one of them without PDB violations.
	want := pl.numCandidates(len(potential))
	offset := 0
	if len(potential) > 0 {
		offset = pl.offset(len(potential))
	}
	dryCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var nonViolating, violating atomic.Int32
	pl.h.Parallelizer().Until(dryCtx, len(potential), func(i int) {
		if dryCtx.Err() != nil {
			return
		}
		idx := (offset + i) % len(potential)
		c, st := pl.selectVictims(ctx, state, pod, potential[idx], pdbs)
		cands[idx], statusesOut[idx] = c, st
		if c == nil {
			return
		}
		var nv, v int32
		if c.pdbViolations == 0 {
			nv, v = nonViolating.Add(1), violating.Load()
		} else {
			nv, v = nonViolating.Load(), violating.Add(1)
		}
		if nv > 0 && int(nv+v) >= want {
			cancel()
		}
	})
	var found []*candidate
	for i, c := range cands {
		if c != nil {
			found = append(found, c)
			continue
		}
		st := statusesOut[i]
		if st == nil {
			st = framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNoVictims)
		}
		result[potential[i].Node().Name] = st
	}
	if len(found) == 0 {
		fe := &framework.FitError{Pod: pod, NumAllNodes: len(all), Diagnosis: framework.Diagnosis{NodeToStatus: result}}
		return &framework.PostFilterResult{}, framework.NewStatus(framework.Unschedulable, "preemption: "+fe.Error())
	}
	best := pickBest(found)
	if err := pl.prepare(ctx, best, pod); err != nil {
		return nil, framework.AsStatus(err)
	}
	return &framework.PostFilterResult{NominatedNodeName: best.node}, nil
}

// numCandidates is how many candidates the dry run looks for among n
// potential nodes.
func (pl *DefaultPreemption) numCandidates(n int) int {
	want := n * int(pl.percentage) / 100
	if want < int(pl.absolute) {
		want = int(pl.absolute)
	}
	return min(want, n)
}

// eligible refuses pods that may not preempt, and pods already waiting for
// victims on their nominated node to terminate.
func (pl *DefaultPreemption) eligible(pod *v1.Pod) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni, err := pl.h.SnapshotSharedLister().Get(nn); err == nil {
			prio := framework.PodPriority(pod)
			for _, p := range ni.Pods {
				if p.Pod.DeletionTimestamp != nil && framework.PodPriority(p.Pod) < prio {
					return false, "not eligible due to a terminating pod on the nominated node."
				}
			}
		}
	}
	return true, ""
}

func (pl *DefaultPreemption) listPDBs(ns string) []*policyv1.PodDisruptionBudget {
	if pl.pdbs == nil {
		return nil
	}
	list, err := pl.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	return list
}

// selectVictims removes every lower-priority pod, checks the pod fits,
// then puts back as many as possible, PDB-protected ones first.
func (pl *DefaultPreemption) selectVictims(ctx context.Context, state *framework.CycleState, pod *v1.Pod, orig *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) (*candidate, *framework.Status) {
	ni := orig.Clone()
	st := state.Clone()
	prio := framework.PodPriority(pod)
	var lower []*framework.PodInfo
	for _, p := range orig.Pods {
		if framework.PodPriority(p.Pod) < prio {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNoVictims)
	}
	for _, p := range lower {
		ni.RemovePod(p.Pod)
		if s := pl.h.RunPreFilterExtensionRemovePod(ctx, st, pod, p, ni); !s.IsSuccess() {
			return nil, s
		}
	}
	if s := pl.h.RunFilterPluginsWithNominatedPods(ctx, st, pod, ni); !s.IsSuccess() {
		if s.Code() == framework.Error {
			return nil, s
		}
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNoVictims)
	}
	// Highest priority first, so that the most important are reprieved first.
	sort.SliceStable(lower, func(i, j int) bool { return moreImportant(lower[i].Pod, lower[j].Pod) })
	violating, nonViolating := splitByPDB(lower, pdbs)
	var victims []*framework.PodInfo
	violations := 0
	reprieve := func(p *framework.PodInfo) (bool, error) {
		ni.AddPodInfo(p)
		if s := pl.h.RunPreFilterExtensionAddPod(ctx, st, pod, p, ni); !s.IsSuccess() {
			return false, s.AsError()
		}
		if s := pl.h.RunFilterPluginsWithNominatedPods(ctx, st, pod, ni); !s.IsSuccess() {
			ni.RemovePod(p.Pod)
			if s := pl.h.RunPreFilterExtensionRemovePod(ctx, st, pod, p, ni); !s.IsSuccess() {
				return false, s.AsError()
			}
			victims = append(victims, p)
			return false, nil
		}
		return true, nil
	}
	for _, p := range violating {
		ok, err := reprieve(p)
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		if !ok {
			violations++
		}
	}
	for _, p := range nonViolating {
		if _, err := reprieve(p); err != nil {
			return nil, framework.AsStatus(err)
		}
	}
	if len(victims) == 0 {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNoVictims)
	}
	return &candidate{node: orig.Node().Name, victims: victims, pdbViolations: violations}, nil
}

func moreImportant(a, b *v1.Pod) bool {
	pa, pb := framework.PodPriority(a), framework.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a).Before(startTime(b))
}

func startTime(p *v1.Pod) *metav1.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime
	}
	return &p.CreationTimestamp
}

// splitByPDB splits pods into those whose eviction would violate a PDB
// (counting earlier pods of the same budget) and the rest.
func splitByPDB(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, pdb := range pdbs {
		allowed[i] = pdb.Status.DisruptionsAllowed
	}
	for _, p := range pods {
		violates := false
		for i, pdb := range pdbs {
			if pdb.Namespace != p.Pod.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Pod.Labels)) {
				continue
			}
			if _, disrupted := pdb.Status.DisruptedPods[p.Pod.Name]; disrupted {
				continue
			}
			allowed[i]--
			if allowed[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, p)
		} else {
			nonViolating = append(nonViolating, p)
		}
	}
	return violating, nonViolating
}

// pickBest applies Kubernetes' order: fewest PDB violations, lowest
// highest victim priority, lowest priority sum, fewest victims, latest
// start of the highest-priority victims, then the first.
func pickBest(cands []*candidate) *candidate {
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.pdbViolations != b.pdbViolations {
			return a.pdbViolations < b.pdbViolations
		}
		ha, hb := framework.PodPriority(a.victims[0].Pod), framework.PodPriority(b.victims[0].Pod)
		if ha != hb {
			return ha < hb
		}
		sa, sb := prioritySum(a.victims), prioritySum(b.victims)
		if sa != sb {
			return sa < sb
		}
		if len(a.victims) != len(b.victims) {
			return len(a.victims) < len(b.victims)
		}
		return earliestStart(a.victims).After(earliestStart(b.victims).Time)
	})
	return cands[0]
}

func prioritySum(victims []*framework.PodInfo) int64 {
	var s int64
	for _, v := range victims {
		// Offset so that negative priorities still add up sensibly.
		s += int64(framework.PodPriority(v.Pod)) + int64(math.MaxInt32) + 1
	}
	return s
}

func earliestStart(victims []*framework.PodInfo) *metav1.Time {
	top := framework.PodPriority(victims[0].Pod)
	var earliest *metav1.Time
	for _, v := range victims {
		if framework.PodPriority(v.Pod) != top {
			continue
		}
		if t := startTime(v.Pod); earliest == nil || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// prepare deletes the victims (after marking them with a DisruptionTarget
// condition) and clears lower-priority nominations on the node.
func (pl *DefaultPreemption) prepare(ctx context.Context, c *candidate, pod *v1.Pod) error {
	cs := pl.h.ClientSet()
	var wg sync.WaitGroup
	errs := make([]error, len(c.victims))
	for i, v := range c.victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			victim := v.Pod
			cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
				Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", pod.Spec.SchedulerName), LastTransitionTime: metav1.Now()}
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []v1.PodCondition{cond}}})
			if _, err := cs.CoreV1().Pods(victim.Namespace).Patch(ctx, victim.Name, "application/strategic-merge-patch+json", patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
				pl.h.Logger().Warn("failed to mark preemption victim", zap.String("pod", victim.Namespace+"/"+victim.Name), zap.Error(err))
			}
			if err := cs.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &victim.UID}}); err != nil && !apierrors.IsNotFound(err) {
				errs[i] = fmt.Errorf("defaultpreemption: delete victim %s/%s: %w", victim.Namespace, victim.Name, err)
				return
			}
			pl.h.EventRecorder().Eventf(victim, v1.EventTypeNormal, "Preempted", "Preempted by pod %v on node %v", pod.UID, c.node)
			pl.h.Logger().Info("preempted pod", zap.String("victim", victim.Namespace+"/"+victim.Name),
				zap.String("preemptor", pod.Namespace+"/"+pod.Name), zap.String("node", c.node))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	prio := framework.PodPriority(pod)
	for _, p := range pl.h.NominatedPodsForNode(c.node) {
		if framework.PodPriority(p.Pod) >= prio || p.Pod.UID == pod.UID {
			continue
		}
		patch := []byte(`{"status":{"nominatedNodeName":null}}`)
		if _, err := cs.CoreV1().Pods(p.Pod.Namespace).Patch(ctx, p.Pod.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
			pl.h.Logger().Warn("failed to clear nomination", zap.String("pod", p.Pod.Namespace+"/"+p.Pod.Name), zap.Error(err))
		}
	}
	return nil
}
