package pods

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/kubelet/internal/runtime"
)

// Pod conditions the kubelet owns; others (PodScheduled, DisruptionTarget)
// are kept as they are.
var ownedConditions = map[v1.PodConditionType]bool{
	v1.PodReadyToStartContainers: true,
	v1.PodInitialized:            true,
	v1.ContainersReady:           true,
	v1.PodReady:                  true,
}

// report computes the pod's status from the runtime and hands it to the
// status manager; it returns the phase.
func (w *worker) report(pod *v1.Pod, st *podState) v1.PodPhase {
	m := w.m
	s := pod.Status.DeepCopy()
	s.HostIP = m.o.HostIP()
	if s.HostIP != "" {
		s.HostIPs = []v1.HostIP{{IP: s.HostIP}}
	}
	if st.sandbox != nil {
		ip := st.sandbox.IP
		if pod.Spec.HostNetwork {
			ip = s.HostIP
		}
		if ip != "" {
			s.PodIP = ip
			s.PodIPs = []v1.PodIP{{IP: ip}}
		}
	}
	if w.startTime != nil && s.StartTime == nil {
		s.StartTime = &metav1.Time{Time: *w.startTime}
	}
	if s.QOSClass == "" {
		s.QOSClass = qosClass(pod)
	}

	initDone := true
	s.InitContainerStatuses = s.InitContainerStatuses[:0]
	initFailed := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(pod, st, c, true, !initDone)
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
		cur := st.latest(c.Name)
		switch {
		case sidecar:
			if cur == nil || cur.State != runtime.ContainerRunning {
				initDone = false
			}
		case cur != nil && cur.State == runtime.ContainerExited && cur.ExitCode == 0:
		default:
			if cur != nil && cur.State == runtime.ContainerExited && !shouldRestart(pod, c, true, cur) {
				initFailed = true
			}
			initDone = false
		}
	}
	if len(s.InitContainerStatuses) == 0 {
		s.InitContainerStatuses = nil
	}
	s.ContainerStatuses = s.ContainerStatuses[:0]
	allReady := true
	var running, waiting, succeeded, failed, restarting int
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := w.containerStatus(pod, st, c, false, !initDone)
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
		}
		cur := st.latest(c.Name)
		switch {
		case cur == nil || cur.State == runtime.ContainerCreated:
			waiting++
		case cur.State == runtime.ContainerRunning:
			running++
		case shouldRestart(pod, c, false, cur):
			restarting++
		case cur.ExitCode == 0:
			succeeded++
		default:
			failed++
		}
	}

	switch {
	case initFailed:
		s.Phase = v1.PodFailed
	case !initDone:
		s.Phase = v1.PodPending
	case waiting > 0:
		s.Phase = v1.PodPending
	case running > 0 || restarting > 0:
		s.Phase = v1.PodRunning
	case failed > 0:
		s.Phase = v1.PodFailed
	default:
		s.Phase = v1.PodSucceeded
	}
	if pod.DeletionTimestamp != nil && s.Phase == v1.PodRunning && running == 0 {
		// Everything was stopped for the deletion.
		if failed > 0 || restarting > 0 {
			s.Phase = v1.PodFailed
		} else {
			s.Phase = v1.PodSucceeded
		}
	}

	ready := allReady && initDone && s.Phase == v1.PodRunning && pod.DeletionTimestamp == nil
	now := metav1.Now()
	setCondition(s, v1.PodReadyToStartContainers, st.sandbox != nil && st.sandbox.State == runtime.SandboxReady, "", now)
	initReason := ""
	if !initDone {
		initReason = "ContainersNotInitialized"
	}
	setCondition(s, v1.PodInitialized, initDone, initReason, now)
	notReady := ""
	if !ready {
		notReady = "ContainersNotReady"
		if isTerminal(s.Phase) {
			notReady = "PodCompleted"
		}
	}
	setCondition(s, v1.ContainersReady, ready, notReady, now)
	setCondition(s, v1.PodReady, ready, notReady, now)
	m.o.Status.Set(pod, *s)
	return s.Phase
}

// setCondition sets a kubelet-owned condition, keeping the transition time
// when the status does not change.
func setCondition(s *v1.PodStatus, typ v1.PodConditionType, ok bool, reason string, now metav1.Time) {
	status := v1.ConditionFalse
	if ok {
		status = v1.ConditionTrue
		reason = ""
	}
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason = status, reason
		c.LastProbeTime = metav1.Time{}
		return
	}
	s.Conditions = append(s.Conditions, v1.PodCondition{Type: typ, Status: status, Reason: reason, LastTransitionTime: now})
}

// containerStatus reports one container as Kubernetes does.
func (w *worker) containerStatus(pod *v1.Pod, st *podState, c *v1.Container, init, initializing bool) v1.ContainerStatus {
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
	cur := st.latest(c.Name)
	if cur != nil {
		cs.RestartCount = int32(cur.Attempt)
		cs.ContainerID = w.containerID(cur.ID)
		cs.ImageID = cur.ImageRef
	}
	if prev := st.previous(c.Name); prev != nil && prev.State == runtime.ContainerExited {
		cs.LastTerminationState = v1.ContainerState{Terminated: terminated(w, prev)}
	}
	waiting := w.getWaiting(c.Name)
	f := false
	cs.Started = &f
	switch {
	case cur != nil && cur.State == runtime.ContainerRunning:
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt)}
		t := true
		cs.Started = &t
		// Readiness probes come with the probes issue: running is ready.
		cs.Ready = !init || (c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways)
	case cur != nil && cur.State == runtime.ContainerExited && waiting != nil && waiting.Reason == ReasonCrashLoopBackOff:
		cs.State.Waiting = waiting
		cs.LastTerminationState = v1.ContainerState{Terminated: terminated(w, cur)}
	case cur != nil && cur.State == runtime.ContainerExited:
		cs.State.Terminated = terminated(w, cur)
	case waiting != nil:
		cs.State.Waiting = waiting
	case initializing && !init:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: ReasonPodInitializing}
	default:
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: ReasonContainerCreating}
	}
	if cs.ImageID == "" {
		cs.ImageID = ""
	}
	return cs
}

func terminated(w *worker, c *runtime.ContainerStatus) *v1.ContainerStateTerminated {
	t := &v1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      exitReason(c),
		Message:     c.Message,
		ContainerID: w.containerID(c.ID),
	}
	if !c.StartedAt.IsZero() {
		t.StartedAt = metav1.NewTime(c.StartedAt)
	}
	if !c.FinishedAt.IsZero() {
		t.FinishedAt = metav1.NewTime(c.FinishedAt)
	} else {
		t.FinishedAt = metav1.NewTime(time.Now())
	}
	return t
}

// qosClass is Guaranteed, Burstable or BestEffort by requests and limits.
func qosClass(pod *v1.Pod) v1.PodQOSClass {
	all := append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return v1.PodQOSBestEffort
	case guaranteed:
		return v1.PodQOSGuaranteed
	}
	return v1.PodQOSBurstable
}
