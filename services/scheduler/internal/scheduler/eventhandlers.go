package scheduler

import (
	"fmt"
	"reflect"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"drover.dev/scheduler/internal/framework"
)

// responsible reports whether one of our profiles serves the pod.
func (s *Scheduler) responsible(pod *v1.Pod) bool {
	_, ok := s.Profiles[pod.Spec.SchedulerName]
	return ok
}

func asPod(obj any) (*v1.Pod, bool) {
	switch t := obj.(type) {
	case *v1.Pod:
		return t, true
	case cache.DeletedFinalStateUnknown:
		p, ok := t.Obj.(*v1.Pod)
		return p, ok
	}
	return nil, false
}

func asNode(obj any) (*v1.Node, bool) {
	switch t := obj.(type) {
	case *v1.Node:
		return t, true
	case cache.DeletedFinalStateUnknown:
		n, ok := t.Obj.(*v1.Node)
		return n, ok
	}
	return nil, false
}

// hasSpreadOrAffinity selects the pods an added pod may help.
func hasSpreadOrAffinity(p *v1.Pod) bool {
	return len(p.Spec.TopologySpreadConstraints) > 0 || (p.Spec.Affinity != nil && (p.Spec.Affinity.PodAffinity != nil || p.Spec.Affinity.PodAntiAffinity != nil))
}

// withPriority fills spec.priority from the pod's PriorityClass (or the
// global default class) when the apiserver did not resolve it, as
// Kubernetes' Priority admission plugin would have.
func (s *Scheduler) withPriority(pod *v1.Pod) *v1.Pod {
	if pod.Spec.Priority != nil || s.priorityClasses == nil {
		return pod
	}
	var value int32
	var policy *v1.PreemptionPolicy
	found := false
	if pod.Spec.PriorityClassName != "" {
		if pc, err := s.priorityClasses.Get(pod.Spec.PriorityClassName); err == nil {
			value, policy, found = pc.Value, pc.PreemptionPolicy, true
		}
	} else if list, err := s.priorityClasses.List(labels.Everything()); err == nil {
		for _, pc := range list {
			if pc.GlobalDefault {
				value, policy, found = pc.Value, pc.PreemptionPolicy, true
			}
		}
	}
	if !found {
		return pod
	}
	p := pod.DeepCopy()
	p.Labels = pod.Labels // keep the interned map (never written)
	p.Spec.Priority = &value
	if p.Spec.PreemptionPolicy == nil {
		p.Spec.PreemptionPolicy = policy
	}
	return p
}

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := asPod(obj)
	if !ok {
		return
	}
	pod = s.withPriority(pod)
	if pod.Spec.NodeName != "" {
		s.Cache.AddPod(pod)
		s.Queue.DeleteNominatedPodIfExists(pod)
		s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Add}, hasSpreadOrAffinity)
		return
	}
	// Pods with scheduling gates wait outside the queue until the gates go.
	if s.responsible(pod) && len(pod.Spec.SchedulingGates) == 0 {
		s.Queue.Add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	oldPod, ok1 := asPod(oldObj)
	pod, ok2 := asPod(newObj)
	if !ok1 || !ok2 {
		return
	}
	oldPod, pod = s.withPriority(oldPod), s.withPriority(pod)
	if pod.Spec.NodeName != "" {
		if oldPod.Spec.NodeName == "" {
			// The binding is observed: the pod leaves the queue.
			s.Queue.Delete(pod)
			s.Cache.AddPod(pod)
			s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Add}, hasSpreadOrAffinity)
			return
		}
		s.Cache.UpdatePod(oldPod, pod)
		if !reflect.DeepEqual(oldPod.Labels, pod.Labels) {
			s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.UpdatePodLabel}, nil)
		}
		return
	}
	if !s.responsible(pod) {
		return
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		s.Queue.Delete(pod)
		return
	}
	if !s.Cache.IsAssumedPod(pod) {
		s.Queue.Update(oldPod, pod)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	pod, ok := asPod(obj)
	if !ok {
		return
	}
	pod = s.withPriority(pod)
	if pod.Spec.NodeName != "" {
		s.Cache.RemovePod(pod)
		s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventAssignedPod, ActionType: framework.Delete}, nil)
		return
	}
	s.Queue.Delete(pod)
	// A pod assumed but not yet bound may be deleted: drop the assumption.
	if s.Cache.IsAssumedPod(pod) {
		_ = s.Cache.ForgetPod(pod)
	}
}

func nodeActions(old, cur *v1.Node) framework.ActionType {
	var a framework.ActionType
	if !reflect.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		a |= framework.UpdateNodeAllocatable
	}
	if !reflect.DeepEqual(old.Labels, cur.Labels) {
		a |= framework.UpdateNodeLabel
	}
	if !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		a |= framework.UpdateNodeTaint
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		a |= framework.UpdateOther
	}
	if !reflect.DeepEqual(conditionStatuses(old), conditionStatuses(cur)) {
		a |= framework.UpdateNodeCondition
	}
	return a
}

func conditionStatuses(n *v1.Node) map[v1.NodeConditionType]v1.ConditionStatus {
	m := make(map[v1.NodeConditionType]v1.ConditionStatus, len(n.Status.Conditions))
	for _, c := range n.Status.Conditions {
		m[c.Type] = c.Status
	}
	return m
}

func (s *Scheduler) addEventHandlers(f informers.SharedInformerFactory) error {
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPodAdd,
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return fmt.Errorf("scheduler: pod handler: %w", err)
	}
	if _, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := asNode(obj); ok {
				s.Cache.AddNode(n)
				s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventNode, ActionType: framework.Add}, nil)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := asNode(oldObj)
			n, ok2 := asNode(newObj)
			if !ok1 || !ok2 {
				return
			}
			s.Cache.UpdateNode(o, n)
			if a := nodeActions(o, n); a != 0 {
				s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.EventNode, ActionType: a}, nil)
			}
		},
		DeleteFunc: func(obj any) {
			if n, ok := asNode(obj); ok {
				s.Cache.RemoveNode(n)
			}
		},
	}); err != nil {
		return fmt.Errorf("scheduler: node handler: %w", err)
	}
	move := func(res framework.EventResource) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) {
				s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: res, ActionType: framework.Add}, nil)
			},
			UpdateFunc: func(any, any) {
				s.Queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: res, ActionType: framework.UpdateOther}, nil)
			},
		}
	}
	if _, err := f.Core().V1().PersistentVolumes().Informer().AddEventHandler(move(framework.EventPersistentVolume)); err != nil {
		return err
	}
	if _, err := f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(move(framework.EventPersistentVolumeClaim)); err != nil {
		return err
	}
	if _, err := f.Storage().V1().StorageClasses().Informer().AddEventHandler(move(framework.EventStorageClass)); err != nil {
		return err
	}
	return nil
}
