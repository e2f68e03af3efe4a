package controller

import (
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrNoPort means a pod has no container port a service's targetPort names.
var ErrNoPort = errors.New("controller: no matching container port")

// FindPort resolves a service port's targetPort on pod: numbers as they are,
// names through the pod's container ports of the same protocol.
func FindPort(pod *v1.Pod, sp *v1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == tp.StrVal && protocol(p.Protocol) == protocol(sp.Protocol) {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: %q in pod %s/%s", ErrNoPort, tp.StrVal, pod.Namespace, pod.Name)
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	}
	return sp.Port, nil
}

func protocol(p v1.Protocol) v1.Protocol {
	if p == "" {
		return v1.ProtocolTCP
	}
	return p
}

// EnqueueServicesForPod adds the services in pod's namespace whose selector
// matches pod's labels.
func EnqueueServicesForPod(q workqueue.TypedRateLimitingInterface[string], lister corelisters.ServiceLister, pod *v1.Pod) {
	svcs, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			q.Add(s.Namespace + "/" + s.Name)
		}
	}
}

// PodHandlers enqueues the services of pods that change in ways endpoints
// care about (labels, readiness, IP, deletion).
func PodHandlers(q workqueue.TypedRateLimitingInterface[string], lister corelisters.ServiceLister) cache.ResourceEventHandler {
	unwrap := func(obj any) *v1.Pod {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, _ := obj.(*v1.Pod)
		return p
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p := unwrap(obj); p != nil {
				EnqueueServicesForPod(q, lister, p)
			}
		},
		UpdateFunc: func(old, cur any) {
			o, n := unwrap(old), unwrap(cur)
			if o == nil || n == nil || o.ResourceVersion == n.ResourceVersion {
				return
			}
			if !endpointsChanged(o, n) {
				return
			}
			EnqueueServicesForPod(q, lister, n)
			if !labels.Equals(o.Labels, n.Labels) {
				EnqueueServicesForPod(q, lister, o)
			}
		},
		DeleteFunc: func(obj any) {
			if p := unwrap(obj); p != nil {
				EnqueueServicesForPod(q, lister, p)
			}
		},
	}
}

func endpointsChanged(o, n *v1.Pod) bool {
	return !labels.Equals(o.Labels, n.Labels) || IsPodReady(o) != IsPodReady(n) ||
		o.Status.PodIP != n.Status.PodIP || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		o.Spec.NodeName != n.Spec.NodeName || o.Spec.Hostname != n.Spec.Hostname || o.Spec.Subdomain != n.Spec.Subdomain ||
		o.Status.Phase != n.Status.Phase
}

// ShouldPodBeInEndpoints: running or pending pods with an IP; terminating
// ones only when includeTerminating.
func ShouldPodBeInEndpoints(p *v1.Pod, includeTerminating bool) bool {
	if IsPodTerminal(p) || p.Status.PodIP == "" {
		return false
	}
	return includeTerminating || p.DeletionTimestamp == nil
}

// Hostname is the DNS hostname pod gets in svc: only for pods that set
// hostname and name svc as their subdomain.
func Hostname(p *v1.Pod, svc *v1.Service) string {
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name && p.Namespace == svc.Namespace {
		return p.Spec.Hostname
	}
	return ""
}
