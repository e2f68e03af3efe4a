package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultedPodSpec adds the pod-only defaults to a template's.
func defaultedPodSpec(containers ...corev1.Container) corev1.PodSpec {
	spec := defaultedTemplateSpec(containers...)
	spec.EnableServiceLinks = new(true)
	return spec
}

func podWith(spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: spec}
}

func TestDefaultPod(t *testing.T) {
	cpu := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s)}
	}

	runDefaultingTests(t, []defaultingTest{
		{
			name: "minimal pod",
			in:   podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}),
			want: podWith(corev1.PodSpec{
				Containers: []corev1.Container{{
					Name:                     "app",
					Image:                    "nginx",
					ImagePullPolicy:          corev1.PullAlways,
					TerminationMessagePath:   "/dev/termination-log",
					TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				}},
				RestartPolicy:                 corev1.RestartPolicyAlways,
				TerminationGracePeriodSeconds: new(int64(30)),
				DNSPolicy:                     corev1.DNSClusterFirst,
				SecurityContext:               &corev1.PodSecurityContext{},
				SchedulerName:                 "default-scheduler",
				EnableServiceLinks:            new(true),
			}),
		},
		{
			name: "values already set are kept",
			in: podWith(corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: "nginx", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/done", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: new(int64(0)),
				DNSPolicy:                     corev1.DNSDefault,
				SecurityContext:               &corev1.PodSecurityContext{RunAsUser: new(int64(1000))},
				SchedulerName:                 "bin-packer",
				EnableServiceLinks:            new(false),
				ServiceAccountName:            "builder",
				PreemptionPolicy:              new(corev1.PreemptNever),
			}),
			want: podWith(corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: "nginx", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/done", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				}},
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: new(int64(0)),
				DNSPolicy:                     corev1.DNSDefault,
				SecurityContext:               &corev1.PodSecurityContext{RunAsUser: new(int64(1000))},
				SchedulerName:                 "bin-packer",
				EnableServiceLinks:            new(false),
				ServiceAccountName:            "builder",
				DeprecatedServiceAccount:      "builder",
				PreemptionPolicy:              new(corev1.PreemptNever),
			}),
		},
		{
			name: "container details",
			in: podWith(corev1.PodSpec{Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.example.com/app:v1",
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Env: []corev1.EnvVar{
					{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}},
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "cfg", Path: "env", Key: "TOKEN"}}},
					{Name: "PLAIN", Value: "x"},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}},
					PeriodSeconds: 2, FailureThreshold: 10,
				},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Scheme: corev1.URISchemeHTTPS, Port: intstr.FromString("https")}}},
				Lifecycle: &corev1.Lifecycle{
					PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}},
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				},
			}}}),
			want: podWith(func() corev1.PodSpec {
				c := defaultedContainer("app", "registry.example.com/app:v1", corev1.PullIfNotPresent)
				c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
				c.Env = []corev1.EnvVar{
					{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}},
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "cfg", Path: "env", Key: "TOKEN", Optional: new(false)}}},
					{Name: "PLAIN", Value: "x"},
				}
				c.LivenessProbe = &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Scheme: corev1.URISchemeHTTP, Port: intstr.FromInt32(8080)}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				}
				c.ReadinessProbe = &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: new("")}},
					TimeoutSeconds: 1, PeriodSeconds: 2, SuccessThreshold: 1, FailureThreshold: 10,
				}
				c.StartupProbe = &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Scheme: corev1.URISchemeHTTPS, Port: intstr.FromString("https")}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				}
				c.Lifecycle = &corev1.Lifecycle{
					PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Scheme: corev1.URISchemeHTTP, Port: intstr.FromInt32(8080)}},
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				}
				return defaultedPodSpec(c)
			}()),
		},
		{
			name: "init and ephemeral containers are defaulted like containers",
			in: podWith(corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36", Ports: []corev1.ContainerPort{{ContainerPort: 1}}}},
				Containers:     []corev1.Container{{Name: "app", Image: "nginx"}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Image: "busybox",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}},
				}}},
			}),
			want: podWith(func() corev1.PodSpec {
				spec := defaultedPodSpec(defaultedContainer("app", "nginx", corev1.PullAlways))
				initC := defaultedContainer("init", "busybox:1.36", corev1.PullIfNotPresent)
				initC.Ports = []corev1.ContainerPort{{ContainerPort: 1, Protocol: corev1.ProtocolTCP}}
				spec.InitContainers = []corev1.Container{initC}
				debug := defaultedContainer("debug", "busybox", corev1.PullAlways)
				debug.ReadinessProbe = &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				}
				spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(debug)}}
				return spec
			}()),
		},
		{
			name: "requests default to limits, per resource",
			in: podWith(corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1", Resources: corev1.ResourceRequirements{Limits: cpu("1")}}},
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Requests: cpu("500m"),
				}}},
			}),
			want: podWith(func() corev1.PodSpec {
				app := defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)
				app.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				}
				spec := defaultedPodSpec(app)
				initC := defaultedContainer("init", "busybox:1", corev1.PullIfNotPresent)
				initC.Resources = corev1.ResourceRequirements{Limits: cpu("1"), Requests: cpu("1")}
				spec.InitContainers = []corev1.Container{initC}
				return spec
			}()),
		},
		{
			name: "host network publishes container ports on the host",
			in: podWith(corev1.PodSpec{
				HostNetwork:    true,
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1", Ports: []corev1.ContainerPort{{ContainerPort: 7000}}}},
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1", Ports: []corev1.ContainerPort{
					{ContainerPort: 80}, {ContainerPort: 443, HostPort: 443},
				}}},
			}),
			want: podWith(func() corev1.PodSpec {
				app := defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)
				app.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 443, HostPort: 443, Protocol: corev1.ProtocolTCP}}
				spec := defaultedPodSpec(app)
				spec.HostNetwork = true
				initC := defaultedContainer("init", "busybox:1", corev1.PullIfNotPresent)
				initC.Ports = []corev1.ContainerPort{{ContainerPort: 7000, HostPort: 7000, Protocol: corev1.ProtocolTCP}}
				spec.InitContainers = []corev1.Container{initC}
				return spec
			}()),
		},
		{
			name: "negative grace period becomes one second",
			in:   podWith(corev1.PodSpec{TerminationGracePeriodSeconds: new(int64(-5)), Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}),
			want: podWith(func() corev1.PodSpec {
				spec := defaultedPodSpec(defaultedContainer("app", "nginx", corev1.PullAlways))
				spec.TerminationGracePeriodSeconds = new(int64(1))
				return spec
			}()),
		},
		{
			name: "deprecated serviceAccount is copied to serviceAccountName",
			in:   podWith(corev1.PodSpec{DeprecatedServiceAccount: "legacy", Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}),
			want: podWith(func() corev1.PodSpec {
				spec := defaultedPodSpec(defaultedContainer("app", "nginx", corev1.PullAlways))
				spec.ServiceAccountName, spec.DeprecatedServiceAccount = "legacy", "legacy"
				return spec
			}()),
		},
		{
			name: "serviceAccountName wins over the deprecated alias",
			in:   podWith(corev1.PodSpec{ServiceAccountName: "new", DeprecatedServiceAccount: "old", Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}),
			want: podWith(func() corev1.PodSpec {
				spec := defaultedPodSpec(defaultedContainer("app", "nginx", corev1.PullAlways))
				spec.ServiceAccountName, spec.DeprecatedServiceAccount = "new", "new"
				return spec
			}()),
		},
	})
}

func TestDefaultPodStatusIPs(t *testing.T) {
	ips := func(ips ...string) []corev1.PodIP {
		var out []corev1.PodIP
		for _, ip := range ips {
			out = append(out, corev1.PodIP{IP: ip})
		}
		return out
	}
	tests := []struct {
		name       string
		in         corev1.PodStatus
		wantPodIP  string
		wantPodIPs []corev1.PodIP
	}{
		{name: "no IPs", in: corev1.PodStatus{}},
		{name: "podIP fills podIPs", in: corev1.PodStatus{PodIP: "10.0.0.5"}, wantPodIP: "10.0.0.5", wantPodIPs: ips("10.0.0.5")},
		{name: "podIPs fill podIP", in: corev1.PodStatus{PodIPs: ips("10.0.0.5", "fd00::5")}, wantPodIP: "10.0.0.5", wantPodIPs: ips("10.0.0.5", "fd00::5")},
		{name: "podIP wins a mismatch", in: corev1.PodStatus{PodIP: "10.0.0.6", PodIPs: ips("10.0.0.5", "fd00::5")}, wantPodIP: "10.0.0.6", wantPodIPs: ips("10.0.0.6")},
		{name: "matching pair is kept", in: corev1.PodStatus{PodIP: "10.0.0.5", PodIPs: ips("10.0.0.5", "fd00::5")}, wantPodIP: "10.0.0.5", wantPodIPs: ips("10.0.0.5", "fd00::5")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: tt.in}
			Default(pod)
			if pod.Status.PodIP != tt.wantPodIP {
				t.Errorf("podIP = %q, want %q", pod.Status.PodIP, tt.wantPodIP)
			}
			if len(pod.Status.PodIPs) != len(tt.wantPodIPs) {
				t.Fatalf("podIPs = %v, want %v", pod.Status.PodIPs, tt.wantPodIPs)
			}
			for i := range tt.wantPodIPs {
				if pod.Status.PodIPs[i] != tt.wantPodIPs[i] {
					t.Errorf("podIPs = %v, want %v", pod.Status.PodIPs, tt.wantPodIPs)
				}
			}
		})
	}
}

func TestDefaultRoundsResourcesUpToMilli(t *testing.T) {
	pod := podWith(corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "nginx", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001"), corev1.ResourceMemory: resource.MustParse("100.5")},
		}}},
		Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1.0001")},
	})
	Default(pod)

	tests := []struct {
		name string
		got  resource.Quantity
		want string
	}{
		{name: "limit cpu", got: pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU], want: "1m"},
		{name: "request copied from limit", got: pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU], want: "1m"},
		{name: "memory", got: pod.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory], want: "100500m"},
		{name: "overhead", got: pod.Spec.Overhead[corev1.ResourceCPU], want: "1001m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got.String(); got != tt.want {
				t.Errorf("quantity = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDefaultVolumes(t *testing.T) {
	tests := []struct {
		name string
		in   corev1.VolumeSource
		want corev1.VolumeSource
	}{
		{
			name: "no source is an emptyDir",
			in:   corev1.VolumeSource{},
			want: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
		{
			name: "emptyDir is kept as written",
			in:   corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}},
			want: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}},
		},
		{
			name: "secret mode 0644",
			in:   corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}},
			want: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: new(int32(0o644))}},
		},
		{
			name: "configMap mode kept",
			in:   corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: new(int32(0o400))}},
			want: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: new(int32(0o400))}},
		},
		{
			name: "configMap mode 0644",
			in:   corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			want: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: new(int32(0o644))}},
		},
		{
			name: "hostPath type empty",
			in:   corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}},
			want: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: new(corev1.HostPathUnset)}},
		},
		{
			name: "downwardAPI mode and field API version",
			in: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			}}},
			want: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: new(int32(0o644)), Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			}}},
		},
		{
			name: "projected mode, token expiry and downward fields",
			in: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
			}}},
			want: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: new(int32(0o644)), Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(int64(3600))}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
			}}},
		},
		{
			name: "image volume pull policy",
			in:   corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "quay.io/models/llm:v3"}},
			want: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "quay.io/models/llm:v3", PullPolicy: corev1.PullIfNotPresent}},
		},
		{
			name: "ephemeral claim template",
			in:   corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}},
			want: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: new(corev1.PersistentVolumeFilesystem)},
			}}},
		},
		{
			name: "iscsi and rbd plugin defaults",
			in: corev1.VolumeSource{
				ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.1"},
				RBD:   &corev1.RBDVolumeSource{CephMonitors: []string{"mon"}},
			},
			want: corev1.VolumeSource{
				ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.1", ISCSIInterface: "default"},
				RBD:   &corev1.RBDVolumeSource{CephMonitors: []string{"mon"}, RBDPool: "rbd", RadosUser: "admin", Keyring: "/etc/ceph/keyring"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Pod templates carry the same volume defaults as Pods.
			template := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: *tt.in.DeepCopy()}},
			}}}
			want := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{Spec: defaultedTemplateSpec()}}
			want.Template.Spec.Containers = nil
			want.Template.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: tt.want}}
			runDefaultingTests(t, []defaultingTest{{name: "pod template", in: template, want: want}})
		})
	}
}
