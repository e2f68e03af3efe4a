package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultService(t *testing.T) {
	selector := map[string]string{"app": "web"}
	ipv4 := []corev1.IPFamily{corev1.IPv4Protocol}
	port := func(p int32) corev1.ServicePort {
		return corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(p)}
	}
	// clusterIPSpec is what every ClusterIP service gets.
	clusterIPSpec := func() corev1.ServiceSpec {
		return corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              selector,
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        new(corev1.IPFamilyPolicySingleStack),
			IPFamilies:            ipv4,
		}
	}
	service := func(spec corev1.ServiceSpec) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: spec}
	}

	runDefaultingTests(t, []defaultingTest{
		{
			name: "minimal service",
			in:   service(corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Port: 80}}}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.Ports = []corev1.ServicePort{port(80)}
				return s
			}()),
		},
		{
			name: "target ports and protocols that are set are kept",
			in: service(corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)},
				{Name: "empty", Port: 8080, TargetPort: intstr.FromString("")},
			}}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.Ports = []corev1.ServicePort{
					{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(5353)},
					{Name: "empty", Port: 8080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
				}
				return s
			}()),
		},
		{
			name: "external IPs make a ClusterIP service external",
			in:   service(corev1.ServiceSpec{Selector: selector, ExternalIPs: []string{"192.0.2.10"}}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.ExternalIPs = []string{"192.0.2.10"}
				s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
				return s
			}()),
		},
		{
			name: "node port",
			in:   service(corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: selector}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.Type = corev1.ServiceTypeNodePort
				s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
				return s
			}()),
		},
		{
			name: "load balancer allocates node ports and marks ingress IPs as VIPs",
			in: &corev1.Service{
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: selector},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "192.0.2.1"}, {Hostname: "lb.example.com"}, {IP: "192.0.2.2", IPMode: new(corev1.LoadBalancerIPModeProxy)},
				}}},
			},
			want: &corev1.Service{
				Spec: func() corev1.ServiceSpec {
					s := clusterIPSpec()
					s.Type = corev1.ServiceTypeLoadBalancer
					s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
					s.AllocateLoadBalancerNodePorts = new(true)
					return s
				}(),
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "192.0.2.1", IPMode: new(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}, {IP: "192.0.2.2", IPMode: new(corev1.LoadBalancerIPModeProxy)},
				}}},
			},
		},
		{
			name: "external name has no traffic policy or IP families",
			in:   service(corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}),
			want: service(corev1.ServiceSpec{
				Type:            corev1.ServiceTypeExternalName,
				ExternalName:    "db.example.com",
				SessionAffinity: corev1.ServiceAffinityNone,
			}),
		},
		{
			name: "client IP affinity gets a three hour timeout",
			in:   service(corev1.ServiceSpec{Selector: selector, SessionAffinity: corev1.ServiceAffinityClientIP}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.SessionAffinity = corev1.ServiceAffinityClientIP
				s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(10800))}}
				return s
			}()),
		},
		{
			name: "client IP timeout is kept",
			in: service(corev1.ServiceSpec{Selector: selector, SessionAffinity: corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(60))}}}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.SessionAffinity = corev1.ServiceAffinityClientIP
				s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(60))}}
				return s
			}()),
		},
		{
			name: "affinity config without affinity is dropped",
			in: service(corev1.ServiceSpec{Selector: selector,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(60))}}}),
			want: service(clusterIPSpec()),
		},
		{
			name: "headless without selector is single-stack IPv4 in drover",
			in:   service(corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}),
			want: service(func() corev1.ServiceSpec {
				s := clusterIPSpec()
				s.Selector = nil
				s.ClusterIP = corev1.ClusterIPNone
				return s
			}()),
		},
		{
			name: "set policies are kept",
			in: service(corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, Selector: selector,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyLocal),
				IPFamilyPolicy:        new(corev1.IPFamilyPolicyPreferDualStack),
			}),
			want: service(corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, Selector: selector,
				SessionAffinity:       corev1.ServiceAffinityNone,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyLocal),
				IPFamilyPolicy:        new(corev1.IPFamilyPolicyPreferDualStack),
				IPFamilies:            ipv4,
			}),
		},
	})
}

func TestDefaultNamespace(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "name label and active phase, no finalizers",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "name label is corrected, other labels and phase kept",
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "other", "env": "prod"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a", "env": "prod"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
		},
		{
			name: "generateName has nothing to label with",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}},
			want: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		},
	})
}

func TestDefaultNode(t *testing.T) {
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")}
	runDefaultingTests(t, []defaultingTest{
		{
			name: "allocatable defaults to capacity",
			in:   &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity}},
			want: &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity}},
		},
		{
			name: "allocatable kept",
			in:   &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity, Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}},
			want: &corev1.Node{Status: corev1.NodeStatus{Capacity: capacity, Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}},
		},
		{
			name: "spec untouched",
			in:   &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24"}},
			want: &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24"}},
		},
	})
}

func TestDefaultPersistentVolumes(t *testing.T) {
	storage := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}
	runDefaultingTests(t, []defaultingTest{
		{
			name: "persistent volume",
			in: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
				Capacity:               storage,
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			}},
			want: &corev1.PersistentVolume{
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      storage,
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: new(corev1.HostPathUnset)}},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					VolumeMode:                    new(corev1.PersistentVolumeFilesystem),
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
			},
		},
		{
			name: "persistent volume keeps set values",
			in: &corev1.PersistentVolume{
				Spec: corev1.PersistentVolumeSpec{
					PersistentVolumeSource:        corev1.PersistentVolumeSource{RBD: &corev1.RBDPersistentVolumeSource{RBDImage: "img", RBDPool: "fast"}},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					VolumeMode:                    new(corev1.PersistentVolumeBlock),
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
			want: &corev1.PersistentVolume{
				Spec: corev1.PersistentVolumeSpec{
					PersistentVolumeSource:        corev1.PersistentVolumeSource{RBD: &corev1.RBDPersistentVolumeSource{RBDImage: "img", RBDPool: "fast", RadosUser: "admin", Keyring: "/etc/ceph/keyring"}},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
					VolumeMode:                    new(corev1.PersistentVolumeBlock),
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
		},
		{
			name: "claim",
			in:   &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: storage}}},
			want: &corev1.PersistentVolumeClaim{
				Spec: corev1.PersistentVolumeClaimSpec{
					Resources:  corev1.VolumeResourceRequirements{Requests: storage},
					VolumeMode: new(corev1.PersistentVolumeFilesystem),
				},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			},
		},
		{
			name: "block claim",
			in:   &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: new(corev1.PersistentVolumeBlock)}},
			want: &corev1.PersistentVolumeClaim{
				Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: new(corev1.PersistentVolumeBlock)},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			},
		},
	})
}

func TestDefaultReplicationController(t *testing.T) {
	labels := map[string]string{"app": "web"}
	runDefaultingTests(t, []defaultingTest{
		{
			name: "selector, labels and replicas from the template",
			in:   &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: new(appTemplate())}},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: new(int32(1)),
					Selector: labels,
					Template: new(defaultedAppTemplate()),
				},
			},
		},
		{
			name: "set values are kept",
			in: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "front"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: new(int32(0)),
					Selector: map[string]string{"app": "web", "track": "stable"},
					Template: new(appTemplate()),
				},
			},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "front"}},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: new(int32(0)),
					Selector: map[string]string{"app": "web", "track": "stable"},
					Template: new(defaultedAppTemplate()),
				},
			},
		},
		{
			name: "no template",
			in:   &corev1.ReplicationController{},
			want: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Replicas: new(int32(1))}},
		},
	})
}

func TestDefaultPodTemplate(t *testing.T) {
	template := appTemplate()
	template.Spec.HostNetwork = true
	template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}

	// No pod-only defaults: no enableServiceLinks, no host ports, no requests from limits.
	want := defaultedAppTemplate()
	want.Spec.HostNetwork = true
	want.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
	want.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}

	runDefaultingTests(t, []defaultingTest{{
		name: "template gets only PodSpec defaults",
		in:   &corev1.PodTemplate{Template: template},
		want: &corev1.PodTemplate{Template: want},
	}})
}

func TestDefaultSmallCoreKinds(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "secret is opaque",
			in:   &corev1.Secret{Data: map[string][]byte{"k": []byte("v")}},
			want: &corev1.Secret{Data: map[string][]byte{"k": []byte("v")}, Type: corev1.SecretTypeOpaque},
		},
		{
			name: "secret type kept",
			in:   &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson},
			want: &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson},
		},
		{
			name: "endpoints ports are TCP",
			in: &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
				Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
			}}},
			want: &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
				Ports:     []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}},
			}}},
		},
		{
			name: "container limit range fills default limits and requests",
			in: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type:    corev1.LimitTypeContainer,
					Max:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:     corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}},
			want: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{
					Type:           corev1.LimitTypeContainer,
					Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Min:            corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
					Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
			}}},
		},
	})
}

// Semantic equality treats nil and empty maps alike, so these are checked directly.
func TestDefaultAllocatesEmptyMaps(t *testing.T) {
	cm := &corev1.ConfigMap{}
	Default(cm)
	if cm.Data == nil {
		t.Error("ConfigMap data is nil, want an empty map")
	}

	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer}, {Type: corev1.LimitTypePod}}}}
	Default(lr)
	if container := lr.Spec.Limits[0]; container.Default == nil || container.DefaultRequest == nil {
		t.Error("container limit range item has nil default or defaultRequest, want empty maps")
	}
	if pod := lr.Spec.Limits[1]; pod.Default != nil || pod.DefaultRequest != nil {
		t.Error("pod limit range item got default maps, want them left nil")
	}

	pod := podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{}}}}})
	Default(pod)
	if pod.Spec.Containers[0].Resources.Requests == nil {
		t.Error("requests of a container with (empty) limits is nil, want an empty map")
	}
}

func TestDefaultResourceQuotaRoundsUp(t *testing.T) {
	quota := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10.0001")}}}
	Default(quota)
	if got := quota.Spec.Hard[corev1.ResourceCPU]; got.String() != "10001m" {
		t.Errorf("hard cpu = %s, want 10001m", got.String())
	}
}
