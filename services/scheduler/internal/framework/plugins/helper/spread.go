package helper

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// DefaultSelector is the union of the selectors of the Services,
// ReplicationControllers, ReplicaSets and StatefulSets that select the pod,
// as Kubernetes uses for default spreading.
func DefaultSelector(pod *v1.Pod, sl corelisters.ServiceLister, cl corelisters.ReplicationControllerLister, rsl appslisters.ReplicaSetLister, ssl appslisters.StatefulSetLister) labels.Selector {
	set := labels.Set{}
	if sl != nil {
		if svcs, err := sl.Services(pod.Namespace).List(labels.Everything()); err == nil {
			for _, s := range svcs {
				if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					for k, v := range s.Spec.Selector {
						set[k] = v
					}
				}
			}
		}
	}
	if cl != nil {
		if rcs, err := cl.ReplicationControllers(pod.Namespace).List(labels.Everything()); err == nil {
			for _, rc := range rcs {
				if len(rc.Spec.Selector) > 0 && labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					for k, v := range rc.Spec.Selector {
						set[k] = v
					}
				}
			}
		}
	}
	sel := labels.NewSelector()
	if len(set) > 0 {
		sel = set.AsSelector()
	}
	addOwner := func(ls *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil || s.Empty() || !s.Matches(labels.Set(pod.Labels)) {
			return
		}
		if reqs, ok := s.Requirements(); ok {
			sel = sel.Add(reqs...)
		}
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		switch ref.Kind {
		case "ReplicaSet":
			if rsl != nil {
				if rs, err := rsl.ReplicaSets(pod.Namespace).Get(ref.Name); err == nil {
					addOwner(rs.Spec.Selector)
				}
			}
		case "StatefulSet":
			if ssl != nil {
				if ss, err := ssl.StatefulSets(pod.Namespace).Get(ref.Name); err == nil {
					addOwner(ss.Spec.Selector)
				}
			}
		}
	}
	return sel
}
