package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{"valid", func(*corev1.Service) {}, nil},
		{"valid with allocated IPs", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10", "fd00::10"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}, nil},
		{"name must be a label", func(s *corev1.Service) { s.Name = "web.v1" }, []want{invalid("metadata.name")}},
		{"ports required", func(s *corev1.Service) { s.Spec.Ports = nil }, []want{required("spec.ports")}},
		{"headless needs no ports", func(s *corev1.Service) { s.Spec.Ports, s.Spec.ClusterIP = nil, corev1.ClusterIPNone }, nil},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []want{invalid("spec.ports[0].port")}},
		{"bad target port name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Not_Valid") }, []want{invalid("spec.ports[0].targetPort")}},
		{"names required with two ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(443)})
		}, []want{required("spec.ports[1].name")}},
		{"duplicate port and name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)})
		}, []want{duplicate("spec.ports[1].name"), duplicate("spec.ports[1]")}},
		{"same port other protocol is fine", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http-udp", Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(80)})
		}, nil},
		{"type enum", func(s *corev1.Service) { s.Spec.Type = "Magic" }, []want{notSupportedAt("spec.type")}},
		{"sessionAffinity required", func(s *corev1.Service) { s.Spec.SessionAffinity = "" }, []want{required("spec.sessionAffinity")}},
		{"externalName required", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
		}, []want{required("spec.externalName")}},
		{"externalName valid with trailing dot", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}, nil},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, []want{forbidden("spec.ports[0].nodePort")}},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeNodePort, corev1.ClusterIPNone
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, []want{invalid("spec.clusterIPs[0]")}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.256" }, []want{invalid("spec.clusterIPs[0]")}},
		{"clusterIPs must start with clusterIP", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.1", []string{"10.0.0.2"}
		}, []want{invalid("spec.clusterIPs")}},
		{"loadBalancer needs defaulted fields", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer },
			[]want{required("allocateLoadBalancerNodePorts"), required("spec.externalTrafficPolicy")}},
		{"internalTrafficPolicy defaulted", func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil }, []want{required("spec.internalTrafficPolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			tt.mutate(s)
			checkErrs(t, Validate(s), tt.want...)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	old := validService()
	old.ResourceVersion = "1"
	old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{"ports may change", func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }, nil},
		{"clusterIP may not change", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"} }, []want{invalid("spec.clusterIPs[0]")}},
		{"clusterIP may not become None", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, []want{invalid("spec.clusterIPs[0]")}},
		{"empty clusterIP keeps the old one", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }, nil},
		{"secondary IP may be added", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"} }, nil},
		{"to ExternalName drops the IP", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := old.DeepCopy()
			tt.mutate(s)
			checkErrs(t, ValidateUpdate(s, old), tt.want...)
		})
	}
}

func TestValidateSecretAndConfigMap(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "s", Namespace: "ns"}
	tests := []struct {
		name string
		obj  runtime.Object
		want []want
	}{
		{"opaque", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a.key_1-x": []byte("v")}}, nil},
		{"bad key", &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"a/b": nil}}, []want{invalid("data[a/b]")}},
		{"bad stringData key", &corev1.Secret{ObjectMeta: meta, StringData: map[string]string{"a b": ""}}, []want{invalid("data[a b]")}},
		{"too large", &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"a": make([]byte, corev1.MaxSecretSize), "b": []byte("x")}}, []want{tooLong("data")}},
		{"tls needs cert and key", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil}}, []want{required("data[tls.key]")}},
		{"tls from stringData", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS, StringData: map[string]string{"tls.crt": "c", "tls.key": "k"}}, nil},
		{"dockerconfigjson must be json", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{")}}, []want{invalid("data[.dockerconfigjson]")}},
		{"dockerconfigjson required", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeDockerConfigJson}, []want{required("data[.dockerconfigjson]")}},
		{"basic auth", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeBasicAuth}, []want{required("data[username]"), required("data[password]")}},
		{"basic auth username only", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": nil}}, nil},
		{"ssh auth", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeSSHAuth}, []want{required("data[ssh-privatekey]")}},
		{"service account token", &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeServiceAccountToken}, []want{required("metadata.annotations[kubernetes.io/service-account.name]")}},
		{"configmap valid", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "b"}, BinaryData: map[string][]byte{"c": nil}}, nil},
		{"configmap duplicate key", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": "b"}, BinaryData: map[string][]byte{"a": nil}}, []want{invalid("data[a]")}},
		{"configmap too large", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"a": strings.Repeat("x", corev1.MaxSecretSize+1)}}, []want{tooLong("[]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, Validate(tt.obj), tt.want...)
		})
	}
}

func TestValidateImmutableData(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "s", Namespace: "ns", ResourceVersion: "1"}
	oldSecret := &corev1.Secret{ObjectMeta: meta, Immutable: ptr(true), Data: map[string][]byte{"a": []byte("1")}, Type: corev1.SecretTypeOpaque}
	oldCM := &corev1.ConfigMap{ObjectMeta: meta, Immutable: ptr(true), Data: map[string]string{"a": "1"}}
	tests := []struct {
		name     string
		obj, old runtime.Object
		want     []want
	}{
		{"secret labels may change", func() runtime.Object {
			s := oldSecret.DeepCopy()
			s.Labels = map[string]string{"a": "b"}
			return s
		}(), oldSecret, nil},
		{"secret data frozen", func() runtime.Object { s := oldSecret.DeepCopy(); s.Data["a"] = []byte("2"); return s }(), oldSecret, []want{forbidden("data")}},
		{"secret stays immutable", func() runtime.Object { s := oldSecret.DeepCopy(); s.Immutable = ptr(false); return s }(), oldSecret, []want{forbidden("immutable")}},
		{"secret type immutable", func() runtime.Object {
			s := oldSecret.DeepCopy()
			s.Type = "example.com/other"
			return s
		}(), oldSecret, []want{invalid("type")}},
		{"configmap data frozen", func() runtime.Object {
			c := oldCM.DeepCopy()
			c.Data = nil
			c.BinaryData = map[string][]byte{"b": nil}
			return c
		}(), oldCM,
			[]want{forbidden("data"), forbidden("binaryData")}},
		{"mutable configmap may change", func() runtime.Object { c := oldCM.DeepCopy(); c.Immutable = nil; return c }(), func() runtime.Object {
			c := oldCM.DeepCopy()
			c.Immutable = nil
			c.Data["a"] = "0"
			return c
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, ValidateUpdate(tt.obj, tt.old), tt.want...)
		})
	}
}

func TestValidateCoreKinds(t *testing.T) {
	storage := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	tests := []struct {
		name string
		obj  runtime.Object
		want []want
	}{
		{"namespace finalizer", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "custom"}}},
			[]want{invalid("spec.finalizers[1]")}},
		{"node valid", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24",
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}}}, nil},
		{"node bad cidr and taints", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/33",
			Taints: []corev1.Taint{{Key: "bad key", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Effect: "Later"}, {Key: "b"}}}},
			[]want{invalid("spec.podCIDRs[0]"), invalid("metadata.taints[0].key"), notSupportedAt("metadata.taints[1].effect"), required("metadata.taints[2].effect")}},
		{"node duplicate taint", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule}, {Key: "a", Value: "x", Effect: corev1.TaintEffectNoSchedule}}}},
			[]want{duplicate("metadata.taints[1]")}},
		{"endpoints", &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.5"}, {IP: "127.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
			{Ports: []corev1.EndpointPort{{Name: "a", Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 81, Protocol: corev1.ProtocolTCP}}},
		}}, []want{invalid("subsets[0].addresses[1].ip"), required("subsets[1]"), required("subsets[1].ports[1].name")}},
		{"serviceaccount", &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "Bad", Namespace: "ns"}}, []want{invalid("metadata.name")}},
		{"pv valid", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
			Capacity: storage, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/mnt/pv1"}}}}, nil},
		{"pv without source and modes", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{Capacity: storage}},
			[]want{required("spec.accessModes"), required("spec")}},
		{"pvc valid", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: validClaimTemplate("c").Spec}, nil},
		{"pvc needs storage and modes", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}},
			[]want{required("spec.accessModes"), required("spec.resources[storage]")}},
		{"rc selector mismatch", &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns"}, Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr[int32](1), Selector: map[string]string{"app": "other"}, Template: ptr(validTemplate())}},
			[]want{invalid("spec.template.metadata.labels")}},
		{"rc selector required", &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns"}, Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr[int32](1), Template: ptr(validTemplate())}}, []want{required("spec.selector")}},
		{"quota", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{
			Hard:   corev1.ResourceList{"pods": resource.MustParse("1.5"), "requests.cpu": resource.MustParse("2"), "bogus": resource.MustParse("1")},
			Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort}}},
			[]want{invalid("spec.hard[pods]"), invalid("spec.hard[bogus]"), invalid("spec.hard[bogus]"), invalid("spec.scopes")}},
		{"limitrange", &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Min:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}}, []want{invalid("spec.limits[0].min[cpu]")}},
		{"binding", &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Target: corev1.ObjectReference{Kind: "Pod"}},
			[]want{notSupportedAt("target.kind"), required("target.name")}},
		{"event legacy namespace", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "ns"}, InvolvedObject: corev1.ObjectReference{Namespace: "other"}},
			[]want{invalid("involvedObject.namespace")}},
		{"event with eventTime needs reporting fields", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"},
			InvolvedObject: corev1.ObjectReference{Namespace: "ns"}, EventTime: metav1.NowMicro()},
			// Kubernetes also reports the empty name as an invalid qualified name, twice.
			[]want{required("reportingComponent"), invalid("reportingComponent"), invalid("reportingComponent"),
				required("reportingInstance"), required("action"), required("reason")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, Validate(tt.obj), tt.want...)
		})
	}
}

func TestValidateCoreUpdates(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", ResourceVersion: "1"}, Spec: validClaimTemplate("c").Spec,
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}
	tests := []struct {
		name     string
		obj, old runtime.Object
		want     []want
	}{
		{"node cidr fixed", func() runtime.Object {
			n := node.DeepCopy()
			n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
			return n
		}(), node, []want{forbidden("spec.podCIDRs")}},
		{"node unschedulable may change", func() runtime.Object { n := node.DeepCopy(); n.Spec.Unschedulable = true; return n }(), node, nil},
		{"pvc may grow when bound", func() runtime.Object {
			c := pvc.DeepCopy()
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
			return c
		}(), pvc, nil},
		{"pvc may not shrink", func() runtime.Object {
			c := pvc.DeepCopy()
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
			return c
		}(), pvc, []want{forbidden("spec.resources.requests.storage")}},
		{"pvc modes fixed", func() runtime.Object {
			c := pvc.DeepCopy()
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			return c
		}(), pvc, []want{forbidden("spec")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, ValidateUpdate(tt.obj, tt.old), tt.want...)
		})
	}
}

func TestValidateNamespaceStatus(t *testing.T) {
	old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", ResourceVersion: "1"}}
	ns := old.DeepCopy()
	ns.Status.Phase = corev1.NamespaceTerminating
	checkErrs(t, ValidateStatusUpdate(ns, old), invalid("status.Phase"))
	ns.Status.Phase = corev1.NamespaceActive
	checkErrs(t, ValidateStatusUpdate(ns, old))
}
