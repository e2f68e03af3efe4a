package controller

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IsPodActive reports whether pod counts towards a controller's replicas:
// neither finished nor being deleted.
func IsPodActive(p *v1.Pod) bool {
	return p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed && p.DeletionTimestamp == nil
}

// IsPodTerminal reports whether pod has finished.
func IsPodTerminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// PodReadyCondition returns pod's Ready condition, or nil.
func PodReadyCondition(p *v1.Pod) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == v1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether pod's Ready condition is true.
func IsPodReady(p *v1.Pod) bool {
	c := PodReadyCondition(p)
	return c != nil && c.Status == v1.ConditionTrue
}

// IsPodAvailable reports whether pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(p *v1.Pod, minReadySeconds int32, now time.Time) bool {
	c := PodReadyCondition(p)
	if c == nil || c.Status != v1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// deletionRank orders pods from most to least preferable to delete.
func deletionRank(p *v1.Pod) [3]int {
	assigned := 0
	if p.Spec.NodeName != "" {
		assigned = 1
	}
	phase := 2
	switch p.Status.Phase {
	case v1.PodPending:
		phase = 0
	case v1.PodUnknown:
		phase = 1
	}
	ready := 0
	if IsPodReady(p) {
		ready = 1
	}
	return [3]int{assigned, phase, ready}
}

// restarts is the highest restart count of pod's containers.
func restarts(p *v1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// LessForDeletion orders pods so that the first are deleted first:
// unscheduled before scheduled, pending before unknown before running,
// not ready before ready, recently ready before long ready, more restarts
// before fewer, newer before older.
func LessForDeletion(a, b *v1.Pod) bool {
	ra, rb := deletionRank(a), deletionRank(b)
	for i := range ra {
		if ra[i] != rb[i] {
			return ra[i] < rb[i]
		}
	}
	if ra[2] == 1 {
		ta, tb := PodReadyCondition(a).LastTransitionTime, PodReadyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return tb.Before(&ta)
		}
	}
	if x, y := restarts(a), restarts(b); x != y {
		return x > y
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// PodFromTemplate builds a pod for a controller from its template.
func PodFromTemplate(tpl *v1.PodTemplateSpec, namespace, generateName string, ref *metav1.OwnerReference) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: generateName,
			Labels:       copyMap(tpl.Labels),
			Annotations:  copyMap(tpl.Annotations),
			Finalizers:   append([]string(nil), tpl.Finalizers...),
		},
		Spec: *tpl.Spec.DeepCopy(),
	}
	if ref != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return p
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
