package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidatePod(t *testing.T) {
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"valid full", func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
			c.Env = []corev1.EnvVar{{Name: "my.var-1", Value: "x"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "sub"}}
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			}
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: emptyDir}}
			p.Spec.InitContainers = []corev1.Container{validContainer("init")}
			p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}}
		}, nil},
		{"pod name is a subdomain", func(p *corev1.Pod) { p.Name = "web.v1" }, nil},
		{"bad pod name", func(p *corev1.Pod) { p.Name = "Web" }, []want{invalid("metadata.name")}},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []want{required("spec.containers")}},
		{"container name not a label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App_1" }, []want{invalid("spec.containers[0].name")}},
		{"container name required", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, []want{required("spec.containers[0].name")}},
		{"duplicate container names", func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, validContainer("app")) }, []want{duplicate("spec.containers[1].name")}},
		{"init container name clashes", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{validContainer("app")} }, []want{duplicate("spec.initContainers[0].name")}},
		{"image required", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []want{required("spec.containers[0].image")}},
		{"image whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []want{invalid("spec.containers[0].image")}},
		{"port out of range", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
		}, []want{invalid("spec.containers[0].ports[0].containerPort")}},
		{"port required", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}}
		}, []want{required("spec.containers[0].ports[0].containerPort")}},
		{"bad protocol", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "HTTP"}}
		}, []want{notSupportedAt("spec.containers[0].ports[0].protocol")}},
		{"bad and duplicate port names", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{
				{Name: "web", ContainerPort: 80, Protocol: corev1.ProtocolTCP},
				{Name: "web", ContainerPort: 81, Protocol: corev1.ProtocolTCP},
				{Name: "Not_Valid", ContainerPort: 82, Protocol: corev1.ProtocolTCP},
			}
		}, []want{duplicate("spec.containers[0].ports[1].name"), invalid("spec.containers[0].ports[2].name")}},
		{"host port conflict", func(p *corev1.Pod) {
			c2 := validContainer("b")
			c2.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c2)
		}, []want{duplicate("spec.containers[1].ports[0].hostPort")}},
		{"env name with equals", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, []want{invalid("spec.containers[0].env[0].name")}},
		{"env name required", func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} }, []want{required("spec.containers[0].env[0].name")}},
		{"env value and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
		}, []want{invalid("spec.containers[0].env[0].valueFrom")}},
		{"env bad fieldPath", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.bogus"}}}}
		}, []want{notSupportedAt("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{"duplicate volumes and two sources", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "a", VolumeSource: emptyDir},
				{Name: "a", VolumeSource: emptyDir},
				{Name: "b", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
				{Name: "c"},
			}
		}, []want{duplicate("spec.volumes[1].name"), forbidden("spec.volumes[2].emptyDir"), required("spec.volumes[3]")}},
		{"volume source details", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr[int32](01000)}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"},
					Items: []corev1.KeyToPath{{Key: "k", Path: "../etc"}}}}},
				{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/a/../b"}}},
			}
		}, []want{required("spec.volumes[0].secret.secretName"), invalid("spec.volumes[0].secret.defaultMode"),
			invalid("spec.volumes[1].configMap.items[0].path"), invalid("spec.volumes[2].hostPath.path")}},
		{"mount of missing volume", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, []want{notFound("spec.containers[0].volumeMounts[0].name")}},
		{"mount path unique and subPath relative", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: emptyDir}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x"}, {Name: "v", MountPath: "/x", SubPath: "/abs"}}
		}, []want{invalid("spec.containers[0].volumeMounts[1].mountPath"), invalid("spec.containers[0].volumeMounts.subPath")}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, []want{invalid("spec.containers[0].resources.requests")}},
		{"negative quantity and bad resource name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1"), "pods": resource.MustParse("1")},
			}
		}, []want{invalid("spec.containers[0].resources.requests[memory]"), invalid("spec.containers[0].resources.requests[pods]")}},
		{"extended resource must not overcommit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
			}
		}, []want{required("spec.containers[0].resources.limits")}},
		{"restart and dns policy enums", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
			p.Spec.DNSPolicy = ""
		}, []want{notSupportedAt("spec.restartPolicy"), required("spec.dnsPolicy")}},
		{"defaulted container fields required", func(p *corev1.Pod) {
			p.Spec.Containers[0].ImagePullPolicy = ""
			p.Spec.Containers[0].TerminationMessagePolicy = "Sometimes"
			p.Spec.TerminationGracePeriodSeconds = nil
		}, []want{required("spec.containers[0].imagePullPolicy"), notSupportedAt("spec.containers[0].terminationMessagePolicy"), required("spec.terminationGracePeriodSeconds")}},
		{"hostname and subdomain", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "a.b", "A" }, []want{invalid("spec.hostname"), invalid("spec.subdomain")}},
		{"tolerations", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{
				{Operator: corev1.TolerationOpEqual, Value: "x"},
				{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"},
				{Key: "k", Effect: "Sometimes"},
				{Key: "k", Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr[int64](1)},
			}
		}, []want{invalid("spec.tolerations[0].operator"), invalid("spec.tolerations[1].operator"), notSupportedAt("spec.tolerations[2].effect"), invalid("spec.tolerations[3].effect")}},
		{"node selector labels", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key": "v"} }, []want{invalid("spec.nodeSelector")}},
		{"probe without handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
		}, []want{required("spec.containers[0].readinessProbe")}},
		{"liveness success threshold", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}, SuccessThreshold: 2}
		}, []want{invalid("spec.containers[0].livenessProbe.successThreshold")}},
		{"init container probe", func(p *corev1.Pod) {
			c := validContainer("init")
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []want{forbidden("spec.initContainers[0].readinessProbe")}},
		{"sidecar may have probes", func(p *corev1.Pod) {
			c := validContainer("sidecar")
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, nil},
		{"ephemeral containers only via subresource", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(validContainer("debug"))}}
		}, []want{forbidden("spec.ephemeralContainers")}},
		{"activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"nodeName with scheduling gates", func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
		}, []want{forbidden("spec.nodeName")}},
		{"dnsPolicy None needs config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []want{required("spec.dnsConfig")}},
		{"affinity", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{
					{Weight: 0, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "kubernetes.io/hostname"}},
				}},
			}
		}, []want{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"),
			invalid("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")}},
		{"serviceAccountToken needs a service account", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
			}}}}
		}, []want{forbidden("spec.volumes[0].projected.sources[0].serviceAccountToken")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			checkErrs(t, Validate(p), tt.want...)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	old.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](60)}}
	old.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"no change", func(*corev1.Pod) {}, nil},
		{"image may change", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"labels may change", func(p *corev1.Pod) { p.Labels["v"] = "2" }, nil},
		{"activeDeadlineSeconds may be set", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](100) }, nil},
		{"toleration may be added and its seconds changed", func(p *corev1.Pod) {
			p.Spec.Tolerations[0].TolerationSeconds = ptr[int64](10)
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "b", Operator: corev1.TolerationOpExists})
		}, nil},
		{"toleration may not be removed", func(p *corev1.Pod) { p.Spec.Tolerations = nil }, []want{forbidden("spec.tolerations")}},
		{"scheduling gate may be removed", func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"scheduling gate may not be added", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/b"})
		}, []want{forbidden("spec.schedulingGates[1].name")}},
		{"other spec fields are immutable", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{forbidden("spec")}},
		{"containers may not be added", func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, validContainer("b")) }, []want{forbidden("spec.containers")}},
		{"name immutable", func(p *corev1.Pod) { p.Name = "other" }, []want{invalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := old.DeepCopy()
			tt.mutate(p)
			checkErrs(t, ValidateUpdate(p, old), tt.want...)
		})
	}

	t.Run("message lists the updatable fields", func(t *testing.T) {
		p := old.DeepCopy()
		p.Spec.DNSPolicy = corev1.DNSDefault
		errs := ValidateUpdate(p, old)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "pod updates may not change fields other than `spec.containers[*].image`") {
			t.Errorf("errors = %v", errs)
		}
	})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	tests := []struct {
		name   string
		status corev1.PodStatus
		want   []want
	}{
		{"valid", corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}}, nil},
		{"bad pod IP", corev1.PodStatus{PodIP: "10.0.0.300", PodIPs: []corev1.PodIP{{IP: "10.0.0.300"}}}, []want{invalid("status.podIPs[0]")}},
		{"two IPv4", corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}}, []want{invalid("status.podIPs")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := old.DeepCopy()
			p.Status = tt.status
			checkErrs(t, ValidateStatusUpdate(p, old), tt.want...)
		})
	}
}
