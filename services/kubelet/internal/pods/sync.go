package pods

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"drover.dev/kubelet/internal/runtime"
	"drover.dev/kubelet/internal/static"
)

// Labels the kubelet puts on containers to find them again.
const (
	LabelPodUID       = "io.kubernetes.pod.uid"
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelContainer    = "io.kubernetes.container.name"
	// LabelInit marks init containers ("true"); hollow nodes end them at once.
	LabelInit = "io.kubernetes.container.init"
)

// Waiting reasons, as Kubernetes reports them.
const (
	ReasonContainerCreating = "ContainerCreating"
	ReasonPodInitializing   = "PodInitializing"
	ReasonCrashLoopBackOff  = "CrashLoopBackOff"
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
	ReasonConfigError       = "CreateContainerConfigError"
	ReasonCreateError       = "CreateContainerError"
	ReasonRunError          = "RunContainerError"
)

const (
	// errImagePullShown is how long ErrImagePull stays before ImagePullBackOff.
	errImagePullShown = 2 * time.Second
	terminalResync    = 10 * time.Second
	defaultGrace      = 30 * time.Second
)

// podState is what the runtime holds for one pod.
type podState struct {
	sandbox *runtime.SandboxStatus
	old     []*runtime.SandboxStatus // not ready ones
	// byName lists each container's instances, newest attempt last.
	byName map[string][]*runtime.ContainerStatus
}

func (s *podState) latest(name string) *runtime.ContainerStatus {
	l := s.byName[name]
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

func (s *podState) previous(name string) *runtime.ContainerStatus {
	l := s.byName[name]
	if len(l) < 2 {
		return nil
	}
	return l[len(l)-2]
}

func (w *worker) state(ctx context.Context, pod *v1.Pod) (*podState, error) {
	rt := w.m.o.Runtime
	sbs, err := rt.ListPodSandboxes(ctx)
	if err != nil {
		return nil, err
	}
	st := &podState{byName: map[string][]*runtime.ContainerStatus{}}
	for _, sb := range sbs {
		if sb.PodUID != string(pod.UID) {
			continue
		}
		if sb.State == runtime.SandboxReady && st.sandbox == nil {
			st.sandbox = sb
		} else {
			st.old = append(st.old, sb)
		}
		cs, err := rt.ListContainers(ctx, sb.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			st.byName[c.Name] = append(st.byName[c.Name], c)
		}
	}
	for _, l := range st.byName {
		sort.Slice(l, func(i, j int) bool { return l[i].Attempt < l[j].Attempt })
	}
	return st, nil
}

// sync moves the pod one step towards its spec and reports its status.
// It returns when to look again, or done once the pod is gone.
func (w *worker) sync(ctx context.Context) (time.Duration, bool) {
	pod, removed := w.current()
	m := w.m
	lg := m.lg.With(zap.String("pod", pod.Namespace+"/"+pod.Name))
	st, err := w.state(ctx, pod)
	if err != nil {
		lg.Warn("failed to read runtime state", zap.Error(err))
		return m.o.Resync, false
	}
	if removed {
		w.teardown(ctx, pod, st, gracePeriod(pod))
		for _, sb := range append(st.old, st.sandbox) {
			if sb == nil {
				continue
			}
			if err := m.o.Runtime.RemovePodSandbox(ctx, sb.ID); err != nil {
				lg.Warn("failed to remove sandbox", zap.Error(err))
				return m.o.Resync, false
			}
		}
		m.o.Status.Forget(pod.UID)
		m.restarts.forget(string(pod.UID))
		m.pulls.forget(string(pod.UID))
		lg.Info("pod removed")
		return 0, true
	}
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod, st, lg)
	}
	if isTerminal(pod.Status.Phase) {
		// Done for good: free the network, keep containers for logs.
		if st.sandbox != nil {
			m.killSandbox(ctx, st.sandbox.ID, 0)
		}
		return terminalResync, false
	}

	// The relist wakes the worker when its containers change; otherwise a
	// periodic sync is enough.
	next := m.o.PeriodicSync
	if w.startTime == nil {
		t := time.Now()
		if pod.Status.StartTime != nil {
			t = pod.Status.StartTime.Time
		}
		w.startTime = &t
	}
	if st.sandbox == nil {
		if !pod.Spec.HostNetwork && !m.o.PodCIDRReady() {
			lg.Debug("waiting for the node's pod CIDR")
			w.report(w.reportBase(pod), st)
			return m.o.Resync, false
		}
		sb, err := m.o.Runtime.RunPodSandbox(ctx, w.sandboxConfig(pod))
		if err != nil {
			lg.Warn("failed to create sandbox", zap.Error(err))
			w.event(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			w.report(w.reportBase(pod), st)
			return m.o.Resync, false
		}
		st.sandbox = sb
		// Containers of a dead sandbox (node reboot) cannot run again.
		for _, old := range st.old {
			m.killSandbox(ctx, old.ID, 0)
		}
	}

	if wait, ok := w.syncInit(ctx, pod, st, lg); !ok {
		if wait > 0 && wait < next {
			next = wait
		}
		w.refresh(ctx, pod, st)
		phase := w.report(w.reportBase(pod), st)
		if isTerminal(phase) {
			m.killSandbox(ctx, st.sandbox.ID, 0)
		}
		return next, false
	}
	for i := range pod.Spec.Containers {
		if wait := w.syncContainer(ctx, pod, st, &pod.Spec.Containers[i], false, lg); wait > 0 && wait < next {
			next = wait
		}
	}
	w.refresh(ctx, pod, st)
	if phase := w.report(w.reportBase(pod), st); isTerminal(phase) {
		m.killSandbox(ctx, st.sandbox.ID, 0)
		return terminalResync, false
	}
	return next, false
}

// refresh re-reads the containers after starting some.
func (w *worker) refresh(ctx context.Context, pod *v1.Pod, st *podState) {
	if fresh, err := w.state(ctx, pod); err == nil {
		if fresh.sandbox == nil {
			fresh.sandbox = st.sandbox
		}
		*st = *fresh
	}
}

// syncInit runs init containers in order; ok means all have succeeded
// (restartable sidecars: started) and app containers may run.
func (w *worker) syncInit(ctx context.Context, pod *v1.Pod, st *podState, lg *zap.Logger) (time.Duration, bool) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
		cur := st.latest(c.Name)
		switch {
		case sidecar:
			wait := w.syncContainer(ctx, pod, st, c, true, lg)
			if cur == nil || cur.State != runtime.ContainerRunning {
				return wait, false
			}
		case cur != nil && cur.State == runtime.ContainerExited && cur.ExitCode == 0:
			continue
		case cur != nil && cur.State == runtime.ContainerRunning:
			return 0, false
		default:
			return w.syncContainer(ctx, pod, st, c, true, lg), false
		}
	}
	return 0, true
}

// syncContainer starts or restarts one container when its policy says so;
// it returns how long a back-off still holds it (0: nothing to wait for).
func (w *worker) syncContainer(ctx context.Context, pod *v1.Pod, st *podState, c *v1.Container, init bool, lg *zap.Logger) time.Duration {
	m := w.m
	cur := st.latest(c.Name)
	attempt := uint32(0)
	if cur != nil {
		switch cur.State {
		case runtime.ContainerRunning:
			w.clearWaiting(c.Name)
			if !cur.StartedAt.IsZero() && time.Since(cur.StartedAt) > backoffReset {
				m.restarts.reset(backoffKey(pod, c.Name))
			}
			return 0
		case runtime.ContainerCreated:
			// Created but never started (a crash between the two): replace it.
			_ = m.o.Runtime.RemoveContainer(ctx, cur.ID)
			attempt = cur.Attempt
		default:
			if !shouldRestart(pod, c, init, cur) {
				return 0
			}
			key := backoffKey(pod, c.Name)
			if cur.FinishedAt.Sub(cur.StartedAt) > backoffReset {
				m.restarts.reset(key)
			}
			if wait := m.restarts.wait(key, cur.FinishedAt, time.Now()); wait > 0 {
				w.setWaiting(c.Name, ReasonCrashLoopBackOff, fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
					m.restarts.current(key), c.Name, pod.Name, pod.Namespace, pod.UID))
				return wait
			}
			m.restarts.next(key, time.Now())
			attempt = cur.Attempt + 1
			// Keep one previous instance (logs --previous); drop older ones.
			if prev := st.previous(c.Name); prev != nil {
				_ = m.o.Runtime.RemoveContainer(ctx, prev.ID)
			}
		}
	}
	if err := w.startContainer(ctx, pod, st.sandbox, c, attempt, init); err != nil {
		lg.Info("container not started", zap.String("container", c.Name), zap.Error(err))
		if wait := m.pulls.wait(backoffKey(pod, "image/"+c.Name), time.Now(), time.Now()); wait > 0 {
			return min(wait, m.pulls.current(backoffKey(pod, "image/"+c.Name)))
		}
		return 0
	}
	return 0
}

func backoffKey(pod *v1.Pod, name string) string { return string(pod.UID) + "/" + name }

// shouldRestart applies restartPolicy to an exited container.
func shouldRestart(pod *v1.Pod, c *v1.Container, init bool, cur *runtime.ContainerStatus) bool {
	if c.RestartPolicy != nil {
		switch *c.RestartPolicy {
		case v1.ContainerRestartPolicyAlways:
			return true
		}
	}
	switch pod.Spec.RestartPolicy {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return cur.ExitCode != 0
	default:
		// Init containers only re-run after a failure, even with Always.
		return !init || cur.ExitCode != 0
	}
}

func (w *worker) setWaiting(name, reason, msg string) {
	w.mu.Lock()
	w.waiting[name] = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
	w.mu.Unlock()
}

func (w *worker) clearWaiting(name string) {
	w.mu.Lock()
	delete(w.waiting, name)
	w.mu.Unlock()
}

func (w *worker) getWaiting(name string) *v1.ContainerStateWaiting {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.waiting[name]; ok {
		c := *s
		return &c
	}
	return nil
}

func (w *worker) event(pod *v1.Pod, typ, reason, format string, args ...any) {
	if w.m.o.Recorder != nil {
		w.m.o.Recorder.Eventf(pod, typ, reason, format, args...)
	}
}

// startContainer pulls the image as the policy says, resolves the
// command and environment and starts the container.
func (w *worker) startContainer(ctx context.Context, pod *v1.Pod, sb *runtime.SandboxStatus, c *v1.Container, attempt uint32, init bool) error {
	m := w.m
	img, err := w.ensureImage(ctx, pod, c)
	if err != nil {
		return err
	}
	podIP := sb.IP
	if pod.Spec.HostNetwork {
		podIP = m.o.HostIP()
	}
	es := &envSource{client: m.o.Client, pod: pod, hostIP: m.o.HostIP(), podIP: podIP}
	if m.o.Services != nil && (pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks) {
		es.services = m.o.Services(pod.Namespace)
	}
	env, vals, err := es.envFor(ctx, c, img)
	if err != nil {
		w.setWaiting(c.Name, ReasonConfigError, err.Error())
		w.event(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	cmd := commandFor(c, img, vals)
	if len(cmd) == 0 {
		err := errors.New("no command specified")
		w.setWaiting(c.Name, ReasonCreateError, err.Error())
		w.event(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	cfg := runtime.ContainerConfig{
		Name: c.Name, Attempt: attempt, ImageRef: img.ID, Image: c.Image,
		Command: cmd, Env: env, WorkingDir: c.WorkingDir, User: img.User, StopSignal: img.StopSignal,
		Resources: resourcesFor(c), Security: securityFor(pod, c),
		TTY: c.TTY, Stdin: c.Stdin,
		Labels: map[string]string{
			LabelPodUID: string(pod.UID), LabelPodName: pod.Name, LabelPodNamespace: pod.Namespace, LabelContainer: c.Name,
		},
	}
	if init && (c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways) {
		cfg.Labels[LabelInit] = "true"
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	id, err := m.o.Runtime.CreateContainer(ctx, sb.ID, cfg)
	if err != nil {
		w.setWaiting(c.Name, ReasonCreateError, err.Error())
		w.event(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	w.event(pod, v1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := m.o.Runtime.StartContainer(ctx, id); err != nil {
		_ = m.o.Runtime.RemoveContainer(ctx, id)
		w.setWaiting(c.Name, ReasonRunError, err.Error())
		w.event(pod, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return err
	}
	w.clearWaiting(c.Name)
	w.event(pod, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return nil
}

// ensureImage makes the container's image present per imagePullPolicy.
func (w *worker) ensureImage(ctx context.Context, pod *v1.Pod, c *v1.Container) (*runtime.Image, error) {
	m := w.m
	img, err := m.o.Images.ImageStatus(ctx, c.Image)
	present := err == nil
	if err != nil && !errors.Is(err, runtime.ErrImageNotPresent) {
		return nil, err
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = v1.PullIfNotPresent
	}
	switch {
	case policy == v1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		w.setWaiting(c.Name, ReasonErrImageNeverPull, msg)
		w.event(pod, v1.EventTypeWarning, ReasonErrImageNeverPull, "%s", msg)
		return nil, errors.New(msg)
	case policy == v1.PullNever, policy == v1.PullIfNotPresent && present:
		return img, nil
	}
	key := backoffKey(pod, "image/"+c.Name)
	if wait := m.pulls.wait(key, time.Now(), time.Now()); wait > 0 {
		// A sync right after the failed pull (the relist sees the new
		// sandbox) keeps ErrImagePull, so that clients see it before the
		// back-off reason replaces it.
		if cur := w.getWaiting(c.Name); cur == nil || cur.Reason != ReasonErrImagePull || time.Since(m.pulls.last(key)) > errImagePullShown {
			w.setWaiting(c.Name, ReasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q", c.Image))
		}
		return nil, fmt.Errorf("back-off pulling image %q", c.Image)
	}
	w.event(pod, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	auth, err := w.pullAuth(ctx, pod)
	if err == nil {
		img, err = m.o.Images.PullImage(ctx, c.Image, auth)
	}
	if err != nil {
		m.pulls.next(key, time.Now())
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		w.setWaiting(c.Name, ReasonErrImagePull, msg)
		w.event(pod, v1.EventTypeWarning, "Failed", "%s", msg)
		return nil, err
	}
	m.pulls.reset(key)
	w.event(pod, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return img, nil
}

// terminate stops a pod being deleted: containers get their grace period,
// then the final status is sent and the deletion confirmed.
func (w *worker) terminate(ctx context.Context, pod *v1.Pod, st *podState, lg *zap.Logger) (time.Duration, bool) {
	m := w.m
	grace := gracePeriod(pod)
	w.teardown(ctx, pod, st, grace)
	w.refresh(ctx, pod, st)
	w.report(w.reportBase(pod), st)
	if err := m.o.Status.Flush(ctx, pod.UID); err != nil {
		lg.Warn("final status not sent", zap.Error(err))
	}
	zero := int64(0)
	uid := pod.UID
	err := m.o.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		lg.Warn("failed to confirm deletion", zap.Error(err))
		return m.o.Resync, false
	}
	// The informer's delete event ends the worker.
	return terminalResync, false
}

// teardown kills the pod's containers (grace first) and stops its sandboxes.
func (w *worker) teardown(ctx context.Context, pod *v1.Pod, st *podState, grace time.Duration) {
	m := w.m
	var wg sync.WaitGroup
	for name, l := range st.byName {
		cur := l[len(l)-1]
		if cur.State != runtime.ContainerRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.event(pod, v1.EventTypeNormal, "Killing", "Stopping container %s", name)
			if err := m.o.Runtime.StopContainer(ctx, cur.ID, grace); err != nil {
				m.lg.Warn("failed to stop container", zap.String("container", cur.ID), zap.Error(err))
			}
		}()
	}
	wg.Wait()
	for _, sb := range append(st.old, st.sandbox) {
		if sb != nil {
			if err := m.o.Runtime.StopPodSandbox(ctx, sb.ID); err != nil {
				m.lg.Warn("failed to stop sandbox", zap.String("sandbox", sb.ID), zap.Error(err))
			}
		}
	}
}

// gracePeriod is the deletion's grace, else the spec's, else 30 s.
func gracePeriod(pod *v1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultGrace
}

func isTerminal(p v1.PodPhase) bool { return p == v1.PodSucceeded || p == v1.PodFailed }

// containerID is how containerStatuses name a runtime container.
func (w *worker) containerID(id string) string { return w.m.o.Runtime.Type() + "://" + id }

// exitReason defaults the runtime's reason.
func exitReason(c *runtime.ContainerStatus) string {
	if c.Reason != "" {
		return c.Reason
	}
	if c.ExitCode == 0 {
		return "Completed"
	}
	return "Error"
}

// reportBase is pod with the conditions the kubelet owns as it last set
// them. The informer's copy lags behind the status manager's: a sync in
// between would see no condition (or an older one), stamp a new transition
// time and send the same status again with only that time changed, one
// more write per pod in a burst of starts. Static pods are left as they
// are: their status goes to a mirror pod that may not exist yet, and only a
// status that changes is sent again once it does.
func (w *worker) reportBase(pod *v1.Pod) *v1.Pod {
	if static.IsStatic(pod) {
		return pod
	}
	last, ok := w.m.o.Status.Get(pod.UID)
	if !ok {
		return pod
	}
	p := *pod
	p.Status = *pod.Status.DeepCopy()
	for _, lc := range last.Conditions {
		if !ownedConditions[lc.Type] {
			continue
		}
		found := false
		for i := range p.Status.Conditions {
			c := &p.Status.Conditions[i]
			if c.Type == lc.Type {
				found = true
				if c.Status == lc.Status {
					c.LastTransitionTime = lc.LastTransitionTime
				}
			}
		}
		if !found {
			p.Status.Conditions = append(p.Status.Conditions, lc)
		}
	}
	return &p
}
