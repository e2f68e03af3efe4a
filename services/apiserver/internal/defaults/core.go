package defaults

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func defaultReplicationController(rc *corev1.ReplicationController) {
	// An RC without a selector or labels takes its pod template's labels: the
	// original, pre-selector way to write one.
	if rc.Spec.Template != nil && rc.Spec.Template.Labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = maps.Clone(rc.Spec.Template.Labels)
		}
		if len(rc.Labels) == 0 {
			rc.Labels = maps.Clone(rc.Spec.Template.Labels)
		}
	}
	setIfNil(&rc.Spec.Replicas, int32(1))
	if rc.Spec.Template != nil {
		defaultPodSpec(&rc.Spec.Template.Spec)
	}
}

func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	setIfEmpty(&spec.SessionAffinity, corev1.ServiceAffinityNone)
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		// A config has nothing to configure without affinity; Kubernetes drops it.
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		setIfNil(&spec.SessionAffinityConfig, corev1.SessionAffinityConfig{})
		setIfNil(&spec.SessionAffinityConfig.ClientIP, corev1.ClientIPConfig{})
		setIfNil(&spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, corev1.DefaultClientIPServiceAffinitySeconds)
	}
	setIfEmpty(&spec.Type, corev1.ServiceTypeClusterIP)

	for i := range spec.Ports {
		port := &spec.Ports[i]
		setIfEmpty(&port.Protocol, corev1.ProtocolTCP)
		// Unset means "the same port on the pod", whether it came as 0 or "".
		if port.TargetPort == intstr.FromInt32(0) || port.TargetPort == intstr.FromString("") {
			port.TargetPort = intstr.FromInt32(port.Port)
		}
	}

	externallyReachable := spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	if externallyReachable {
		setIfEmpty(&spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	}
	switch spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		setIfNil(&spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		setIfNil(&spec.AllocateLoadBalancerNodePorts, true)
		for i := range svc.Status.LoadBalancer.Ingress {
			if ingress := &svc.Status.LoadBalancer.Ingress[i]; ingress.IP != "" {
				setIfNil(&ingress.IPMode, corev1.LoadBalancerIPModeVIP)
			}
		}
	}
	defaultServiceIPFamilies(svc)
}

// defaultServiceIPFamilies settles the IP family fields, which kube-apiserver does
// while allocating cluster IPs rather than in its defaulting. drover's cluster is
// IPv4 single-stack, so every service but ExternalName is SingleStack IPv4. That
// includes headless services without a selector, which Kubernetes would make
// RequireDualStack [IPv4, IPv6]. On update Kubernetes instead carries an unset
// policy over from the stored object, which only differs when that object chose a
// dual-stack policy; keeping stored fields on update is the caller's job.
func defaultServiceIPFamilies(svc *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	setIfNil(&svc.Spec.IPFamilyPolicy, corev1.IPFamilyPolicySingleStack)
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
}

func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			setIfEmpty(&ep.Subsets[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
}

func defaultNamespace(ns *corev1.Namespace) {
	// The name label lets selectors pick namespaces by name. It is always reset, so
	// it cannot lie; a generateName request has no name to label with yet.
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	setIfEmpty(&ns.Status.Phase, corev1.NamespaceActive)
}

func defaultNode(node *corev1.Node) {
	// A node that reports no allocatable offers all its capacity.
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
	roundUpResources(node.Status.Capacity)
	roundUpResources(node.Status.Allocatable)
}

func defaultPersistentVolume(pv *corev1.PersistentVolume) {
	setIfEmpty(&pv.Status.Phase, corev1.VolumePending)
	// Retain, because a hand-made volume may hold data nobody else knows about.
	setIfEmpty(&pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	setIfNil(&pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	roundUpResources(pv.Spec.Capacity)

	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil {
		defaultHostPath(src.HostPath)
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.ISCSI != nil {
		setIfEmpty(&src.ISCSI.ISCSIInterface, "default")
	}
	if src.AzureDisk != nil {
		defaultAzureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
}

func defaultPersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	setIfEmpty(&pvc.Status.Phase, corev1.ClaimPending)
	defaultPersistentVolumeClaimSpec(&pvc.Spec)
	roundUpResources(pvc.Status.Capacity)
	roundUpResources(pvc.Status.AllocatedResources)
}

func defaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	setIfNil(&spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	roundUpResources(spec.Resources.Limits)
	roundUpResources(spec.Resources.Requests)
}

func defaultConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			defaultContainerLimits(item)
		}
		for _, list := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			roundUpResources(list)
		}
	}
}

// defaultContainerLimits completes what the LimitRanger admission plugin injects
// into containers: a default limit (else the max), and a default request (else the
// default limit, else the min).
func defaultContainerLimits(item *corev1.LimitRangeItem) {
	if item.Default == nil {
		item.Default = corev1.ResourceList{}
	}
	if item.DefaultRequest == nil {
		item.DefaultRequest = corev1.ResourceList{}
	}
	fillMissing(item.Default, item.Max)
	fillMissing(item.DefaultRequest, item.Default)
	fillMissing(item.DefaultRequest, item.Min)
}

func fillMissing(dst, src corev1.ResourceList) {
	for name, quantity := range src {
		if _, set := dst[name]; !set {
			dst[name] = quantity.DeepCopy()
		}
	}
}

func defaultResourceQuota(q *corev1.ResourceQuota) {
	roundUpResources(q.Spec.Hard)
	roundUpResources(q.Status.Hard)
	roundUpResources(q.Status.Used)
}
