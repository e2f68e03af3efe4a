package defaults

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultPod applies the defaults only Pods get, then those of every PodSpec.
// Kubernetes adds new defaults to Pods rather than to PodSpec because defaulting a
// template field changes the pod-template hash and would roll every existing
// Deployment on upgrade; so templates lack enableServiceLinks and requests-from-limits.
func defaultPod(pod *corev1.Pod) {
	spec := &pod.Spec
	// A negative grace period asks for immediate deletion; 1s still lets the kubelet signal.
	if spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds < 0 {
		spec.TerminationGracePeriodSeconds = new(int64(1))
	}
	for i := range spec.InitContainers {
		requestsFromLimits(&spec.InitContainers[i].Resources)
	}
	for i := range spec.Containers {
		requestsFromLimits(&spec.Containers[i].Resources)
	}
	setIfNil(&spec.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	// On the host network a container port is a host port.
	if spec.HostNetwork {
		hostPortsFromContainerPorts(spec.InitContainers)
		hostPortsFromContainerPorts(spec.Containers)
	}
	defaultPodSpec(spec)
	defaultPodStatus(&pod.Status)
}

// requestsFromLimits makes a container that only sets a limit request that much,
// so the scheduler accounts for what the container may use.
func requestsFromLimits(res *corev1.ResourceRequirements) {
	if res.Limits == nil {
		return
	}
	if res.Requests == nil {
		res.Requests = corev1.ResourceList{}
	}
	for name, limit := range res.Limits {
		if _, set := res.Requests[name]; !set {
			res.Requests[name] = limit.DeepCopy()
		}
	}
}

func hostPortsFromContainerPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			port := &containers[i].Ports[j]
			setIfEmpty(&port.HostPort, port.ContainerPort)
		}
	}
}

func defaultPodStatus(status *corev1.PodStatus) {
	// podIP is the old singular form of podIPs; keep them in step, podIP winning for
	// the sake of old kubelets.
	switch {
	case status.PodIP != "" && len(status.PodIPs) == 0:
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	case status.PodIP == "" && len(status.PodIPs) > 0:
		status.PodIP = status.PodIPs[0].IP
	case status.PodIP != "" && status.PodIPs[0].IP != status.PodIP:
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	}
	for _, statuses := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses, status.EphemeralContainerStatuses} {
		for i := range statuses {
			roundUpResources(statuses[i].AllocatedResources)
			if statuses[i].Resources != nil {
				roundUpRequirements(statuses[i].Resources)
			}
		}
	}
	roundUpResources(status.AllocatedResources)
	if status.Resources != nil {
		roundUpRequirements(status.Resources)
	}
}

// defaultPodSpec is applied to every PodSpec: Pods and the pod templates of all
// workloads.
func defaultPodSpec(spec *corev1.PodSpec) {
	// serviceAccount is the deprecated alias of serviceAccountName; the two are kept
	// equal, the new name winning. Which account to use is admission's business.
	setIfEmpty(&spec.ServiceAccountName, spec.DeprecatedServiceAccount)
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	setIfEmpty(&spec.DNSPolicy, corev1.DNSClusterFirst)
	setIfEmpty(&spec.RestartPolicy, corev1.RestartPolicyAlways)
	setIfNil(&spec.SecurityContext, corev1.PodSecurityContext{})
	setIfNil(&spec.TerminationGracePeriodSeconds, int64(corev1.DefaultTerminationGracePeriodSeconds))
	setIfEmpty(&spec.SchedulerName, corev1.DefaultSchedulerName)

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		// An ephemeral container has exactly a container's fields, and their defaults.
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundUpResources(spec.Overhead)
	if spec.Resources != nil {
		roundUpRequirements(spec.Resources)
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	setIfEmpty(&c.TerminationMessagePath, corev1.TerminationMessagePathDefault)
	setIfEmpty(&c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	for i := range c.Ports {
		setIfEmpty(&c.Ports[i].Protocol, corev1.ProtocolTCP)
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil {
			if from.FieldRef != nil {
				defaultFieldSelector(from.FieldRef)
			}
			if from.FileKeyRef != nil {
				setIfNil(&from.FileKeyRef.Optional, false)
			}
		}
	}
	roundUpRequirements(&c.Resources)
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if probe != nil {
			defaultProbe(probe)
		}
	}
	if c.Lifecycle != nil {
		for _, handler := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if handler != nil && handler.HTTPGet != nil {
				defaultHTTPGet(handler.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	setIfEmpty(&p.TimeoutSeconds, 1)
	setIfEmpty(&p.PeriodSeconds, 10)
	setIfEmpty(&p.SuccessThreshold, 1)
	setIfEmpty(&p.FailureThreshold, 3)
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
	if p.GRPC != nil {
		// Empty asks the server for its overall health, as gRPC defines it.
		setIfNil(&p.GRPC.Service, "")
	}
}

func defaultHTTPGet(action *corev1.HTTPGetAction) {
	setIfEmpty(&action.Path, "/")
	setIfEmpty(&action.Scheme, corev1.URISchemeHTTP)
}

// defaultFieldSelector pins a downward-API field path to the API version it is
// written against.
func defaultFieldSelector(sel *corev1.ObjectFieldSelector) {
	setIfEmpty(&sel.APIVersion, "v1")
}

func defaultVolume(v *corev1.Volume) {
	src := &v.VolumeSource
	// A volume naming no source is scratch space; old manifests relied on that.
	if !anyPointerSet(src) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = defaultPullPolicy(src.Image.Reference)
	}
	if src.HostPath != nil {
		defaultHostPath(src.HostPath)
	}
	if src.Secret != nil {
		setIfNil(&src.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil {
		setIfNil(&src.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		setIfNil(&src.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode)
		defaultDownwardAPIFiles(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		defaultProjected(src.Projected)
	}
	if src.ISCSI != nil {
		setIfEmpty(&src.ISCSI.ISCSIInterface, "default")
	}
	if src.RBD != nil {
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	}
	if src.AzureDisk != nil {
		defaultAzureDisk(src.AzureDisk)
	}
	if src.ScaleIO != nil {
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		defaultPersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

// anyPointerSet reports whether a struct of optional pointers (a volume source) has
// one of them set. Reflection keeps this right as Kubernetes adds volume types.
func anyPointerSet(structPtr any) bool {
	v := reflect.ValueOf(structPtr).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			return true
		}
	}
	return false
}

func defaultProjected(p *corev1.ProjectedVolumeSource) {
	setIfNil(&p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	for i := range p.Sources {
		source := &p.Sources[i]
		if source.DownwardAPI != nil {
			defaultDownwardAPIFiles(source.DownwardAPI.Items)
		}
		if source.ServiceAccountToken != nil {
			// An hour: long enough to not churn, short enough to bound a leaked token.
			setIfNil(&source.ServiceAccountToken.ExpirationSeconds, int64(3600))
		}
	}
}

func defaultDownwardAPIFiles(files []corev1.DownwardAPIVolumeFile) {
	for i := range files {
		if files[i].FieldRef != nil {
			defaultFieldSelector(files[i].FieldRef)
		}
	}
}

// The defaults of volume plugins shared by pod volumes and PersistentVolumes, whose
// source types differ but carry the same fields.

func defaultHostPath(h *corev1.HostPathVolumeSource) {
	// "" means no check of what is at the path, which is what hostPath always did.
	setIfNil(&h.Type, corev1.HostPathUnset)
}

func defaultRBD(pool, user, keyring *string) {
	setIfEmpty(pool, "rbd")
	setIfEmpty(user, "admin")
	setIfEmpty(keyring, "/etc/ceph/keyring")
}

func defaultAzureDisk(d *corev1.AzureDiskVolumeSource) {
	setIfNil(&d.CachingMode, corev1.AzureDataDiskCachingReadWrite)
	setIfNil(&d.FSType, "ext4")
	setIfNil(&d.ReadOnly, false)
	setIfNil(&d.Kind, corev1.AzureSharedBlobDisk)
}

func defaultScaleIO(storageMode, fsType *string) {
	setIfEmpty(storageMode, "ThinProvisioned")
	setIfEmpty(fsType, "xfs")
}

// roundUpResources rounds quantities up to whole milli-units, the finest precision
// Kubernetes stores and compares resources at.
func roundUpResources(list corev1.ResourceList) {
	for name, quantity := range list {
		quantity.RoundUp(resource.Milli)
		list[name] = quantity
	}
}

func roundUpRequirements(res *corev1.ResourceRequirements) {
	roundUpResources(res.Limits)
	roundUpResources(res.Requests)
}
