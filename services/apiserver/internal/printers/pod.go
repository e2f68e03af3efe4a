package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// nodeLostReason is the pod status reason the node lifecycle controller sets
// on pods of an unreachable node.
const nodeLostReason = "NodeLost"

func init() {
	register(schema.GroupKind{Kind: "Pod"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
			column("Status", "The aggregate status of the containers in this pod."),
			column("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			ageColumn,
			wideColumn("IP", corev1.PodStatus{}.SwaggerDoc()["podIP"]),
			wideColumn("Node", corev1.PodSpec{}.SwaggerDoc()["nodeName"]),
			wideColumn("Nominated Node", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]),
			wideColumn("Readiness Gates", corev1.PodSpec{}.SwaggerDoc()["readinessGates"]),
		},
		rows: podRows,
	})
}

// Finished pods carry a row condition, which lets clients tell them apart.
var (
	podSucceededConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	podFailedConditions    = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodFailed), Message: "The pod failed."}}
)

func podRows(objs []runtime.Object, now time.Time) ([]metav1.TableRow, error) {
	rows := make([]metav1.TableRow, 0, len(objs))
	for _, obj := range objs {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("%w: got %T, want *v1.Pod", ErrUnexpectedObject, obj)
		}
		row := metav1.TableRow{Cells: podCells(pod, now)}
		switch pod.Status.Phase {
		case corev1.PodSucceeded:
			row.Conditions = podSucceededConditions
		case corev1.PodFailed:
			row.Conditions = podFailedConditions
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func podCells(pod *corev1.Pod, now time.Time) []any {
	s := summarizePod(pod)

	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, since(s.lastRestart, now))
	}

	return []any{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		restarts,
		since(pod.CreationTimestamp, now),
		orNone(podIP(pod)),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGates(pod),
	}
}

// podSummary is what the READY, STATUS and RESTARTS columns say about a pod.
type podSummary struct {
	ready, total int
	status       string
	restarts     int
	// lastRestart is when a counted container last terminated, zero if never.
	lastRestart metav1.Time
}

// summarizePod condenses a pod's phase and container states into one status
// word the way kubectl shows it: the phase or status reason, overridden by
// the first init container still at work ("Init:1/2", "Init:CrashLoopBackOff")
// or by the containers' own waiting or terminated reasons, and by
// Terminating once the pod is being deleted.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{status: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	// Sidecars (init containers that keep running) count as containers of the pod.
	sidecars := map[string]bool{}
	s.total = len(pod.Spec.Containers)
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	// Init containers run in order; walk them up to the first one not done.
	// Restarts of every init container walked count while the pod
	// initializes; once it has, only sidecar restarts still do.
	var initRestarts, sidecarRestarts int
	var initLastRestart, sidecarLastRestart metav1.Time
	initializing := false
	for i, cs := range pod.Status.InitContainerStatuses {
		initRestarts += int(cs.RestartCount)
		initLastRestart = later(initLastRestart, lastTermination(cs))
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			sidecarLastRestart = later(sidecarLastRestart, lastTermination(cs))
		}

		term, wait := cs.State.Terminated, cs.State.Waiting
		if term != nil && term.ExitCode == 0 {
			continue
		}
		if sidecars[cs.Name] && cs.Started != nil && *cs.Started {
			if cs.Ready {
				s.ready++
			}
			continue
		}
		initializing = true
		switch {
		case term != nil:
			s.status = "Init:" + terminationReason(term)
		case wait != nil && wait.Reason != "" && wait.Reason != "PodInitializing":
			s.status = "Init:" + wait.Reason
		default:
			s.status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		break
	}
	s.restarts, s.lastRestart = initRestarts, initLastRestart

	if !initializing || hasCondition(pod, corev1.PodInitialized) {
		s.restarts, s.lastRestart = sidecarRestarts, sidecarLastRestart
		hasRunning := false
		failedReason := ""
		// The first container's state wins, so walk them last to first.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			s.restarts += int(cs.RestartCount)
			s.lastRestart = later(s.lastRestart, lastTermination(cs))
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				s.status = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				s.status = terminationReason(cs.State.Terminated)
				if cs.State.Terminated.ExitCode != 0 {
					failedReason = s.status
				}
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				s.ready++
			}
		}
		// A pod whose first container completed while others run is not Completed.
		if s.status == "Completed" {
			switch {
			case hasRunning && anyConditionTrue(pod, corev1.PodReady):
				s.status = "Running"
			case failedReason != "":
				s.status = failedReason
			case hasRunning:
				s.status = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeLostReason:
			s.status = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

// terminationReason names how a container ended: its reason, else the
// signal or exit code.
func terminationReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// lastTermination is when the container's previous run ended, zero if it
// has not restarted.
func lastTermination(cs corev1.ContainerStatus) metav1.Time {
	if t := cs.LastTerminationState.Terminated; t != nil {
		return t.FinishedAt
	}
	return metav1.Time{}
}

func later(a, b metav1.Time) metav1.Time {
	if a.Before(&b) {
		return b
	}
	return a
}

// hasCondition reports whether the pod condition t is true. Only the first
// condition of a type counts, as in Kubernetes.
func hasCondition(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// anyConditionTrue reports whether any pod condition of type t is true.
// Kubernetes checks readiness this way and initialization with
// hasCondition; the two differ only for repeated condition types.
func anyConditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podIP is the pod's primary IP. The singular field wins over the list when
// they disagree, as the API's defaulting makes it.
func podIP(pod *corev1.Pod) string {
	if pod.Status.PodIP != "" {
		return pod.Status.PodIP
	}
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return ""
}

// readinessGates says how many of the pod's readiness gates are met, "2/3".
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	met := 0
	for _, gate := range pod.Spec.ReadinessGates {
		for _, c := range pod.Status.Conditions {
			if c.Type == gate.ConditionType {
				if c.Status == corev1.ConditionTrue {
					met++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", met, len(pod.Spec.ReadinessGates))
}

// orNone prints an empty value as "<none>".
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
