package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"drover.dev/apiserver/internal/storage"
)

// Namespaces that always exist and may not be deleted.
var protectedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

var namespacesGR = schema.GroupResource{Resource: "namespaces"}

// admitCreate applies the built-in admission rules Kubernetes enables by
// default: namespace lifecycle, default service account, node taints.
func (a *API) admitCreate(q *request, obj runtime.Object) error {
	if q.res.Namespaced {
		if err := a.namespaceAcceptsContent(q, q.info.Namespace, mustAccessor(obj).GetName()); err != nil {
			return err
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.ServiceAccountName == "" {
			o.Spec.ServiceAccountName = "default"
		}
		if o.Spec.DeprecatedServiceAccount == "" {
			o.Spec.DeprecatedServiceAccount = o.Spec.ServiceAccountName
		}
		if err := a.admitPriority(q, o); err != nil {
			return err
		}
	case *corev1.Node:
		// A new node is not ready until its kubelet says so; keep pods off it.
		addTaint(o, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
	}
	return nil
}

// admitPriority resolves a pod's PriorityClass into spec.priority and
// spec.preemptionPolicy, as Kubernetes' Priority admission does: the named
// class, else the global default, else priority 0.
func (a *API) admitPriority(q *request, pod *corev1.Pod) error {
	var pc *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		var raw []byte
		if it, _ := a.cfg.Cache.Get("priorityclasses", a.cfg.Store.Key("priorityclasses", "", name)); it != nil {
			raw = it.Raw
		} else if kv, err := a.cfg.Store.Get(q.ctx, a.cfg.Store.Key("priorityclasses", "", name)); err == nil {
			raw = kv.Value
		} else if errors.Is(err, storage.ErrNotFound) {
			return apierrors.NewForbidden(q.groupResource(), pod.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		} else {
			return apierrors.NewInternalError(err)
		}
		pc = &schedulingv1.PriorityClass{}
		if err := json.Unmarshal(raw, pc); err != nil {
			return apierrors.NewInternalError(err)
		}
	} else {
		items, _, _ := a.cfg.Cache.List("priorityclasses", a.cfg.Store.ListPrefix("priorityclasses", ""), "", nil, 0)
		for _, it := range items {
			c := &schedulingv1.PriorityClass{}
			if json.Unmarshal(it.Raw, c) == nil && c.GlobalDefault {
				pc = c
				break
			}
		}
	}
	var value int32
	policy := corev1.PreemptLowerPriority
	if pc != nil {
		value = pc.Value
		pod.Spec.PriorityClassName = pc.Name
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(q.groupResource(), pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}

func addTaint(node *corev1.Node, t corev1.Taint) {
	for _, x := range node.Spec.Taints {
		if x.Key == t.Key && x.Effect == t.Effect {
			return
		}
	}
	node.Spec.Taints = append(node.Spec.Taints, t)
}

// namespaceAcceptsContent: creating into a missing namespace is 404, into a terminating one 403.
func (a *API) namespaceAcceptsContent(q *request, ns, name string) error {
	it, _ := a.cfg.Cache.Get("namespaces", a.cfg.Store.Key("namespaces", "", ns))
	var raw []byte
	if it != nil {
		raw = it.Raw
	} else {
		// The cache may not have seen a namespace created a moment ago.
		kv, err := a.cfg.Store.Get(q.ctx, a.cfg.Store.Key("namespaces", "", ns))
		if errors.Is(err, storage.ErrNotFound) {
			return apierrors.NewNotFound(namespacesGR, ns)
		}
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		raw = kv.Value
	}
	terminating := false
	if it != nil {
		// The cache extracted the phase already; no need to decode.
		terminating = it.Fields.Get("status.phase") == string(corev1.NamespaceTerminating)
	} else {
		var ns corev1.Namespace
		if err := json.Unmarshal(raw, &ns); err != nil {
			return apierrors.NewInternalError(err)
		}
		terminating = ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil
	}
	if terminating {
		return apierrors.NewForbidden(q.groupResource(), name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func (a *API) admitUpdate(q *request, obj, old runtime.Object) error {
	if svc, ok := obj.(*corev1.Service); ok {
		keepAllocatedValues(svc, old.(*corev1.Service))
	}
	return nil
}

func (a *API) admitDelete(q *request, obj runtime.Object) error {
	if ns, ok := obj.(*corev1.Namespace); ok && protectedNamespaces[ns.Name] {
		return apierrors.NewForbidden(namespacesGR, ns.Name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

// keepAllocatedValues: an update that leaves clusterIP or nodePorts empty
// keeps the allocated ones (kubectl apply and helm send manifests without them).
func keepAllocatedValues(svc, old *corev1.Service) {
	if svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName {
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
					break
				}
			}
		}
		if svc.Spec.HealthCheckNodePort == 0 && needsHealthCheckPort(svc) {
			svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
		}
	}
}

func needsNodePorts(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeNodePort {
		return true
	}
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		(svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts)
}

func needsHealthCheckPort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// serviceKeys lists the allocation keys a service holds.
func (a *API) serviceKeys(svc *corev1.Service) []string {
	var keys []string
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		keys = append(keys, a.cfg.Allocator.IPKey(ip))
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			keys = append(keys, a.cfg.Allocator.PortKey(p.NodePort, string(p.Protocol)))
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		keys = append(keys, a.cfg.Allocator.PortKey(svc.Spec.HealthCheckNodePort, "TCP"))
	}
	return dedupe(keys)
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// allocate fills a Service's cluster IP and node ports and returns the
// allocation keys to claim in the write transaction (those old did not hold).
func (a *API) allocate(q *request, obj, old runtime.Object) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok || a.cfg.Allocator == nil {
		return nil, nil
	}
	held := map[string]bool{}
	if old != nil {
		for _, k := range a.serviceKeys(old.(*corev1.Service)) {
			held[k] = true
		}
	}
	al := a.cfg.Allocator
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	} else {
		switch ip := svc.Spec.ClusterIP; {
		case ip == "":
			if old == nil || old.(*corev1.Service).Spec.ClusterIP == "" || old.(*corev1.Service).Spec.ClusterIP == corev1.ClusterIPNone {
				svc.Spec.ClusterIP = al.RandomIP()
			}
		case ip == corev1.ClusterIPNone:
		default:
			if !held[al.IPKey(ip)] {
				if err := al.CheckIP(ip); err != nil {
					errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), []string{ip}, fmt.Sprintf("failed to allocate IP %s: %v", ip, err)))
				} else if a.taken(q, al.IPKey(ip)) {
					errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), []string{ip}, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
				}
			}
		}
		if svc.Spec.ClusterIP != "" {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				p.NodePort = a.freePort(q, string(p.Protocol))
				continue
			}
			key := al.PortKey(p.NodePort, string(p.Protocol))
			if held[key] {
				continue
			}
			path := specPath.Child("ports").Index(i).Child("nodePort")
			if err := al.CheckPort(p.NodePort); err != nil {
				errs = append(errs, field.Invalid(path, p.NodePort, err.Error()))
			} else if a.taken(q, key) {
				errs = append(errs, field.Invalid(path, p.NodePort, "provided port is already allocated"))
			}
		}
		if needsHealthCheckPort(svc) && svc.Spec.HealthCheckNodePort == 0 {
			svc.Spec.HealthCheckNodePort = a.freePort(q, "TCP")
		}
	} else if svc.Spec.Type == corev1.ServiceTypeClusterIP || svc.Spec.Type == corev1.ServiceTypeExternalName {
		if old != nil {
			// Changing away from NodePort frees the ports.
			for i := range svc.Spec.Ports {
				if svc.Spec.Ports[i].NodePort != 0 && held[al.PortKey(svc.Spec.Ports[i].NodePort, string(svc.Spec.Ports[i].Protocol))] {
					svc.Spec.Ports[i].NodePort = 0
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, invalid(q.res, svc.Name, errs)
	}
	var claims []string
	for _, k := range a.serviceKeys(svc) {
		if !held[k] {
			claims = append(claims, k)
		}
	}
	return claims, nil
}

// freePort picks a node port that is not allocated now; the write
// transaction still guards against a concurrent claim.
func (a *API) freePort(q *request, protocol string) int32 {
	for range 32 {
		p := a.cfg.Allocator.RandomPort()
		if !a.taken(q, a.cfg.Allocator.PortKey(p, protocol)) {
			return p
		}
	}
	return a.cfg.Allocator.RandomPort()
}

func (a *API) taken(q *request, key string) bool {
	_, err := a.cfg.Store.Get(q.ctx, key)
	return err == nil
}

// releasable lists allocation keys old held that obj no longer does.
func (a *API) releasable(obj, old runtime.Object) []string {
	svc, ok := obj.(*corev1.Service)
	if !ok || a.cfg.Allocator == nil {
		return nil
	}
	now := map[string]bool{}
	for _, k := range a.serviceKeys(svc) {
		now[k] = true
	}
	var out []string
	for _, k := range a.serviceKeys(old.(*corev1.Service)) {
		if !now[k] {
			out = append(out, k)
		}
	}
	return out
}

// releasesAll lists every allocation key obj holds (when it is deleted).
func releasesAll(a *API, obj runtime.Object) []string {
	svc, ok := obj.(*corev1.Service)
	if !ok || a.cfg.Allocator == nil {
		return nil
	}
	return a.serviceKeys(svc)
}
