package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"drover.dev/scheduler/internal/framework"
	"drover.dev/scheduler/internal/metrics"
	"drover.dev/scheduler/internal/queue"
)

// ScheduleOne pops one pod and runs a scheduling cycle; binding continues
// in the background.
func (s *Scheduler) ScheduleOne(ctx context.Context) {
	// A binding slot is taken before the pop, so that a pod is never
	// held popped while the loop waits for one.
	select {
	case s.bindingSlots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	handedOver := false
	defer func() {
		if !handedOver {
			<-s.bindingSlots
		}
	}()
	qi, err := s.Queue.Pop(ctx)
	if err != nil {
		return
	}
	pod := qi.Pod
	fwk, ok := s.Profiles[pod.Spec.SchedulerName]
	if !ok {
		s.lg.Error("pod has no profile", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.String("schedulerName", pod.Spec.SchedulerName))
		return
	}
	if pod.DeletionTimestamp != nil || s.Cache.IsAssumedPod(pod) {
		return
	}
	start := time.Now()
	cycle := s.Queue.SchedulingCycle()
	state := framework.NewCycleState()
	state.PodInfo = qi.PodInfo
	s.Cache.UpdateSnapshot(s.snapshot)

	host, err := s.schedulePod(ctx, fwk, state, pod)
	s.metrics.AlgorithmDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		var nominated *string
		var fitErr *framework.FitError
		if errors.As(err, &fitErr) && fwk.HasPostFilterPlugins() && fitErr.NumAllNodes > 0 {
			res, st := fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
			if st.Code() == framework.Error {
				s.lg.Error("postfilter failed", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(st.AsError()))
			} else if !st.IsSuccess() {
				fitErr.Diagnosis.PostFilterMsg = st.Message()
			}
			if res != nil {
				nn := res.NominatedNodeName
				nominated = &nn
				if st.IsSuccess() && nn != "" {
					s.metrics.PreemptionAttempts.Inc()
				}
			}
		}
		s.handleFailure(ctx, fwk, qi, err, nominated, start, cycle)
		return
	}

	// A shallow copy: nothing below writes to the pod's shared parts.
	assumedCopy := *pod
	assumed := &assumedCopy
	assumed.Spec.NodeName = host
	assumedInfo := *qi.PodInfo
	assumedInfo.Pod = assumed
	if err := s.Cache.AssumePodInfo(&assumedInfo); err != nil {
		s.handleFailure(ctx, fwk, qi, err, nil, start, cycle)
		return
	}
	s.Queue.DeleteNominatedPodIfExists(pod)
	if st := fwk.RunReservePluginsReserve(ctx, state, assumed, host); !st.IsSuccess() {
		s.undo(ctx, fwk, state, assumed, host)
		s.handleFailure(ctx, fwk, qi, reserveErr(st, pod), nil, start, cycle)
		return
	}
	if st := fwk.RunPermitPlugins(ctx, state, assumed, host); !st.IsSuccess() && !st.IsWait() {
		s.undo(ctx, fwk, state, assumed, host)
		s.handleFailure(ctx, fwk, qi, reserveErr(st, pod), nil, start, cycle)
		return
	}
	s.inFlightBindings.Add(1)
	handedOver = true
	var once sync.Once
	release := func() { once.Do(func() { <-s.bindingSlots }) }
	// A pod held by a Permit plugin may wait long (for other pods to be
	// scheduled, say): it gives its slot back instead of blocking the loop.
	if fwk.GetWaitingPod(string(assumed.UID)) != nil {
		release()
	}
	go func() {
		defer func() {
			s.inFlightBindings.Add(-1)
			release()
		}()
		s.bindingCycle(ctx, fwk, state, qi, assumed, host, start, cycle)
	}()
}

// reserveErr turns a rejecting Reserve/Permit status into a FitError so
// the pod waits for events like any unschedulable pod.
func reserveErr(st *framework.Status, pod *v1.Pod) error {
	if st.IsRejected() {
		return &framework.FitError{Pod: pod, NumAllNodes: 1, Diagnosis: framework.Diagnosis{
			NodeToStatus:         framework.NodeToStatusMap{"": st},
			UnschedulablePlugins: map[string]struct{}{st.Plugin(): {}},
		}}
	}
	return st.AsError()
}

func (s *Scheduler) undo(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, assumed *v1.Pod, host string) {
	fwk.RunReservePluginsUnreserve(ctx, state, assumed, host)
	if err := s.Cache.ForgetPod(assumed); err != nil {
		// The binding may have been observed meanwhile (bound by a
		// previous leader, or the bind call failed after it succeeded).
		s.lg.Warn("failed to forget assumed pod", zap.String("pod", assumed.Namespace+"/"+assumed.Name), zap.Error(err))
	}
}

func (s *Scheduler) bindingCycle(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, qi *queue.QueuedPodInfo, assumed *v1.Pod, host string, start time.Time, cycle int64) {
	fail := func(st *framework.Status) {
		s.undo(ctx, fwk, state, assumed, host)
		// The room we held is free again: pods waiting for it may fit.
		s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Delete, Label: "AssumedPodDelete"}, nil)
		s.handleFailure(ctx, fwk, qi, reserveErr(st, qi.Pod), nil, start, cycle)
	}
	if st := fwk.WaitOnPermit(ctx, assumed); !st.IsSuccess() {
		fail(st)
		return
	}
	if st := fwk.RunPreBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
		fail(st)
		return
	}
	if st := fwk.RunBindPlugins(ctx, state, assumed, host); !st.IsSuccess() {
		fail(st)
		return
	}
	s.Cache.FinishBinding(assumed)
	now := time.Now()
	s.metrics.ScheduleAttempts.WithLabelValues(metrics.ResultScheduled, fwk.ProfileName()).Inc()
	s.metrics.AttemptDuration.WithLabelValues(metrics.ResultScheduled, fwk.ProfileName()).Observe(now.Sub(start).Seconds())
	s.metrics.E2EDuration.WithLabelValues(metrics.ResultScheduled, fwk.ProfileName()).Observe(now.Sub(qi.Added).Seconds())
	s.recorders[fwk.ProfileName()].Eventf(qi.Pod, v1.EventTypeNormal, "Scheduled", "Successfully assigned %v/%v to %v", qi.Pod.Namespace, qi.Pod.Name, host)
}

// schedulePod runs filters and scores and returns the chosen node.
func (s *Scheduler) schedulePod(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *v1.Pod) (string, error) {
	if s.snapshot.NumNodes() == 0 {
		return "", &framework.FitError{Pod: pod, NumAllNodes: 0, Diagnosis: framework.Diagnosis{
			NodeToStatus: framework.NodeToStatusMap{}, PreFilterMsg: "no nodes available to schedule pods"}}
	}
	feasible, diagnosis, err := s.findNodesThatFitPod(ctx, fwk, state, pod)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &framework.FitError{Pod: pod, NumAllNodes: s.snapshot.NumNodes(), Diagnosis: diagnosis}
	}
	if len(feasible) == 1 {
		return feasible[0].Node().Name, nil
	}
	if !fwk.HasScorePlugins() {
		return selectHost(feasible, make([]int64, len(feasible))), nil
	}
	if st := fwk.RunPreScorePlugins(ctx, state, pod, feasible); !st.IsSuccess() {
		return "", st.AsError()
	}
	scores, st := fwk.RunScorePlugins(ctx, state, pod, feasible)
	if !st.IsSuccess() {
		return "", st.AsError()
	}
	return selectHost(feasible, scores), nil
}

func (s *Scheduler) findNodesThatFitPod(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *v1.Pod) ([]*framework.NodeInfo, framework.Diagnosis, error) {
	diagnosis := framework.Diagnosis{NodeToStatus: framework.NodeToStatusMap{}, UnschedulablePlugins: map[string]struct{}{}}
	all := s.snapshot.List()
	pfr, st := fwk.RunPreFilterPlugins(ctx, state, pod)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return nil, diagnosis, st.AsError()
		}
		for _, ni := range all {
			diagnosis.NodeToStatus[ni.Node().Name] = st
		}
		diagnosis.PreFilterMsg = st.Message()
		diagnosis.UnschedulablePlugins[st.Plugin()] = struct{}{}
		return nil, diagnosis, nil
	}
	// A nominated node (set by preemption) is tried first.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni, err := s.snapshot.Get(nn); err == nil {
			if st := fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni); st.IsSuccess() {
				return []*framework.NodeInfo{ni}, diagnosis, nil
			}
		}
	}
	nodes := all
	if pfr != nil && pfr.NodeNames != nil {
		nodes = make([]*framework.NodeInfo, 0, len(pfr.NodeNames))
		for n := range pfr.NodeNames {
			if ni, err := s.snapshot.Get(n); err == nil {
				nodes = append(nodes, ni)
			}
		}
		for _, ni := range all {
			if _, ok := pfr.NodeNames[ni.Node().Name]; !ok {
				diagnosis.NodeToStatus[ni.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [PreFilter result]")
			}
		}
	}
	feasible, err := s.findNodesThatPassFilters(ctx, fwk, state, pod, &diagnosis, nodes)
	return feasible, diagnosis, err
}

func (s *Scheduler) findNodesThatPassFilters(ctx context.Context, fwk *framework.Framework, state *framework.CycleState, pod *v1.Pod, diagnosis *framework.Diagnosis, nodes []*framework.NodeInfo) ([]*framework.NodeInfo, error) {
	n := len(nodes)
	if n == 0 {
		return nil, nil
	}
	want := s.numFeasibleNodesToFind(fwk.PercentageOfNodesToScore(), n)
	start := s.nextStartNodeIndex % n
	if !fwk.HasFilterPlugins() {
		out := make([]*framework.NodeInfo, want)
		for i := range out {
			out[i] = nodes[(start+i)%n]
		}
		s.nextStartNodeIndex = (start + want) % n
		return out, nil
	}
	if cap(s.feasibleBuf) < want {
		s.feasibleBuf = make([]*framework.NodeInfo, want)
	}
	feasible := s.feasibleBuf[:want]
	// Rejections land in their node's slot: no lock per rejected node.
	if cap(s.rejectedBuf) < n {
		s.rejectedBuf = make([]*framework.Status, n)
	}
	rejected := s.rejectedBuf[:n]
	clear(rejected)
	var found atomic.Int32
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var errOnce sync.Once
	var firstErr error
	fwk.Parallelizer().Until(ctx, n, func(i int) {
		ni := nodes[(start+i)%n]
		st := fwk.RunFilterPluginsWithNominatedPods(ctx, state, pod, ni)
		switch {
		case st.IsSuccess():
			k := found.Add(1)
			if int(k) > want {
				cancel()
				found.Add(-1)
				return
			}
			feasible[k-1] = ni
		case st.IsRejected():
			rejected[i] = st
		default:
			errOnce.Do(func() { firstErr = st.AsError() })
			cancel()
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	nfound := int(found.Load())
	processed := nfound
	for _, st := range rejected {
		if st != nil {
			processed++
		}
	}
	s.nextStartNodeIndex = (start + processed) % n
	if nfound > 0 {
		// The diagnosis only explains failures: with a feasible node it
		// is never read, and filling it costs a map entry per rejection.
		return feasible[:nfound], nil
	}
	for i, st := range rejected {
		if st != nil {
			diagnosis.NodeToStatus[nodes[(start+i)%n].Node().Name] = st
			diagnosis.UnschedulablePlugins[st.Plugin()] = struct{}{}
		}
	}
	return nil, nil
}

// handleFailure requeues the pod, records the event and the PodScheduled
// condition (and the nomination, if preemption made one).
func (s *Scheduler) handleFailure(ctx context.Context, fwk *framework.Framework, qi *queue.QueuedPodInfo, err error, nominated *string, start time.Time, cycle int64) {
	pod := qi.Pod
	reason := v1.PodReasonUnschedulable
	result := metrics.ResultUnschedulable
	var fitErr *framework.FitError
	if errors.As(err, &fitErr) {
		qi.UnschedulablePlugins = fitErr.Diagnosis.UnschedulablePlugins
	} else {
		reason = v1.PodReasonSchedulerError
		result = metrics.ResultError
		qi.UnschedulablePlugins = nil
		s.lg.Info("error scheduling pod; retrying", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
	}
	s.metrics.ScheduleAttempts.WithLabelValues(result, fwk.ProfileName()).Inc()
	s.metrics.AttemptDuration.WithLabelValues(result, fwk.ProfileName()).Observe(time.Since(start).Seconds())

	// Requeue only a pod that still exists and is still pending.
	current := pod
	if s.podLister != nil {
		p, gerr := s.podLister.Pods(pod.Namespace).Get(pod.Name)
		if gerr != nil || p.UID != pod.UID {
			return
		}
		if p.Spec.NodeName != "" {
			return
		}
		current = p
	}
	if nominated != nil {
		s.Queue.AddNominatedPod(qi.PodInfo, *nominated)
	}
	s.Queue.AddUnschedulableIfNotPresent(qi, cycle)

	msg := err.Error()
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	s.recorders[fwk.ProfileName()].Event(pod, v1.EventTypeWarning, "FailedScheduling", msg)
	s.updateStatus(ctx, current, reason, msg, nominated)
}

// updateStatus patches the PodScheduled condition (and nominatedNodeName)
// unless they already say the same.
func (s *Scheduler) updateStatus(ctx context.Context, pod *v1.Pod, reason, msg string, nominated *string) {
	if s.client == nil {
		return
	}
	same := false
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == reason && c.Message == msg {
			same = true
		}
	}
	if same && (nominated == nil || *nominated == pod.Status.NominatedNodeName) {
		return
	}
	status := map[string]any{
		"conditions": []map[string]any{{
			"type": v1.PodScheduled, "status": v1.ConditionFalse, "reason": reason, "message": msg,
			"lastProbeTime": nil, "lastTransitionTime": metav1.Now(),
		}},
	}
	if nominated != nil {
		if *nominated == "" {
			status["nominatedNodeName"] = nil
		} else {
			status["nominatedNodeName"] = *nominated
		}
	}
	patch, _ := json.Marshal(map[string]any{"status": status})
	_, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.lg.Warn("failed to update pod status", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(fmt.Errorf("scheduler: %w", err)))
	}
}
