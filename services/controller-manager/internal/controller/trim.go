package controller

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
)

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// TrimForCache is the informer transform of the controller-manager: it drops
// managedFields from every cached object and, from pods, everything no
// controller here reads. Pods are the bulk of the cache, and the
// controllers never write a cached pod back whole: they patch, delete or
// create from templates. A controller that needs more of a pod must extend
// what is kept here.
func TrimForCache(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	if p, ok := obj.(*v1.Pod); ok {
		trimPod(p)
	}
	return obj, nil
}

func trimPod(p *v1.Pod) {
	delete(p.Annotations, lastAppliedAnnotation)
	s := p.Spec
	p.Spec = v1.PodSpec{
		NodeName:       s.NodeName,
		Hostname:       s.Hostname,
		Subdomain:      s.Subdomain,
		Tolerations:    s.Tolerations,
		Containers:     trimContainers(s.Containers),
		InitContainers: trimContainers(s.InitContainers),
	}
	st := p.Status
	p.Status = v1.PodStatus{Phase: st.Phase, PodIP: st.PodIP}
	// Controllers read the Ready condition, and restarts only as the most
	// of any container (to rank pods for deletion).
	if c := PodReadyCondition(&v1.Pod{Status: st}); c != nil {
		p.Status.Conditions = []v1.PodCondition{*c}
	}
	var cs v1.ContainerStatus
	for _, s := range st.ContainerStatuses {
		if s.RestartCount > cs.RestartCount {
			cs = v1.ContainerStatus{Name: s.Name, RestartCount: s.RestartCount}
		}
	}
	if cs.RestartCount > 0 {
		p.Status.ContainerStatuses = []v1.ContainerStatus{cs}
	}
}

// trimContainers keeps, of the containers that declare ports, their names,
// ports and restart policy: ports are all a controller reads (to resolve a
// service's named target port), and most pods declare none, so most
// cached pods keep no container at all.
func trimContainers(cs []v1.Container) []v1.Container {
	var out []v1.Container
	for _, c := range cs {
		if len(c.Ports) > 0 {
			out = append(out, v1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
		}
	}
	return out
}
