package validation

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var nsMeta = metav1.ObjectMeta{Name: "x", Namespace: "ns"}

func validHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: nsMeta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr[int32](1),
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr[int32](80)}}}},
		},
	}
}

func TestValidateOtherKinds(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	tcp := corev1.ProtocolTCP
	prefix := networkingv1.PathTypePrefix
	ingressBackend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	tests := []struct {
		name string
		obj  func() runtime.Object
		want []want
	}{
		{"hpa valid", func() runtime.Object { return validHPA() }, nil},
		{"hpa min above max", func() runtime.Object { h := validHPA(); h.Spec.MinReplicas = ptr[int32](6); return h }, []want{invalid("spec.maxReplicas")}},
		{"hpa max required", func() runtime.Object { h := validHPA(); h.Spec.MaxReplicas = 0; return h }, []want{required("spec.maxReplicas"), invalid("spec.maxReplicas")}},
		{"hpa min zero", func() runtime.Object { h := validHPA(); h.Spec.MinReplicas = ptr[int32](0); return h }, []want{invalid("spec.minReplicas")}},
		{"hpa metric source mismatch", func() runtime.Object {
			h := validHPA()
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
			return h
		}, []want{required("spec.metrics[0].pods")}},
		{"pdb valid", func() runtime.Object {
			return &policyv1.PodDisruptionBudget{ObjectMeta: nsMeta, Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: pct("50%"),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
		}, nil},
		{"pdb both set", func() runtime.Object {
			return &policyv1.PodDisruptionBudget{ObjectMeta: nsMeta, Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: pct("50%"), MaxUnavailable: pct("200%")}}
		}, []want{invalid("spec"), invalid("spec.maxUnavailable")}},
		{"endpointslice valid", func() runtime.Object {
			return &discoveryv1.EndpointSlice{ObjectMeta: nsMeta, AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.2.3"}}},
				Ports:     []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: &tcp, Port: ptr[int32](80)}}}
		}, nil},
		{"endpointslice addresses", func() runtime.Object {
			return &discoveryv1.EndpointSlice{ObjectMeta: nsMeta, AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}}, {}}}
		}, []want{invalid("endpoints[0].addresses"), required("endpoints[1].addresses")}},
		{"endpointslice address type", func() runtime.Object {
			return &discoveryv1.EndpointSlice{ObjectMeta: nsMeta, AddressType: "IPv5"}
		}, []want{notSupportedAt("addressType")}},
		{"endpointslice too many endpoints", func() runtime.Object {
			return &discoveryv1.EndpointSlice{ObjectMeta: nsMeta, AddressType: discoveryv1.AddressTypeFQDN, Endpoints: make([]discoveryv1.Endpoint, 1001)}
		}, []want{tooMany("endpoints")}},
		{"ingress valid", func() runtime.Object {
			return &networkingv1.Ingress{ObjectMeta: nsMeta, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "*.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/api", PathType: &prefix, Backend: ingressBackend}}}}}}}}
		}, nil},
		{"ingress invalid", func() runtime.Object {
			return &networkingv1.Ingress{ObjectMeta: nsMeta, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "10.0.0.1",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "api", PathType: &prefix, Backend: networkingv1.IngressBackend{}}}}}}}}}
		}, []want{invalid("spec.rules[0].host"), invalid("spec.rules[0].http.paths[0].path"), invalid("spec.rules[0].http.paths[0].backend")}},
		{"ingress needs rules or default backend", func() runtime.Object { return &networkingv1.Ingress{ObjectMeta: nsMeta} }, []want{invalid("spec")}},
		{"ingressclass", func() runtime.Object {
			return &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "nginx"}}
		}, []want{invalid("spec.controller")}},
		{"networkpolicy", func() runtime.Object {
			return &networkingv1.NetworkPolicy{ObjectMeta: nsMeta, Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{}, {IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}}},
					Ports: []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromInt32(70000))}},
				}},
				PolicyTypes: []networkingv1.PolicyType{"Sideways"},
			}}
		}, []want{required("spec.ingress[0].from[0]"), invalid("spec.ingress[0].from[1].ipBlock.except[0]"),
			invalid("spec.ingress[0].ports[0].port"), notSupportedAt("spec.policyTypes[0]")}},
		{"lease", func() runtime.Object {
			return &coordinationv1.Lease{ObjectMeta: nsMeta, Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr[int32](0), PreferredHolder: ptr("a")}}
		}, []want{invalid("spec.leaseDurationSeconds"), forbidden("spec.preferredHolder")}},
		{"storageclass", func() runtime.Object {
			return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "",
				VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer)}
		}, []want{required("provisioner")}},
		{"priorityclass too high", func() runtime.Object {
			return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1_000_000_001}
		}, []want{forbidden("value")}},
		{"priorityclass system prefix", func() runtime.Object {
			return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1}
		}, []want{forbidden("metadata.name")}},
		{"priorityclass known system class", func() runtime.Object {
			return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2_000_001_000}
		}, nil},
		{"role rules", func() runtime.Object {
			return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "system:reader", Namespace: "ns"}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"pods"}},
				{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
			}}
		}, []want{required("rules[0].verbs"), invalid("rules[1].nonResourceURLs")}},
		{"clusterrole non-resource ok", func() runtime.Object {
			return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "health"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}}
		}, nil},
		{"rolebinding roleRef and subjects", func() runtime.Object {
			return &rbacv1.RoleBinding{ObjectMeta: nsMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Pod", Name: "r"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default"}, {Kind: "Robot", Name: "r2d2"}}}
		}, []want{notSupportedAt("roleRef.kind"), notSupportedAt("subjects[1].kind")}},
		{"clusterrolebinding needs SA namespace", func() runtime.Object {
			return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default"}}}
		}, []want{notSupportedAt("roleRef.kind"), required("subjects[0].namespace")}},
		{"eviction", func() runtime.Object {
			return &policyv1.Eviction{ObjectMeta: nsMeta, DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](0)}}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, Validate(tt.obj()), tt.want...)
		})
	}
}

func TestValidateOtherUpdates(t *testing.T) {
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns", ResourceVersion: "1"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"}}
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "p", ResourceVersion: "1"}, Value: 10}
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "s", ResourceVersion: "1"}, Provisioner: "example.com/csi",
		VolumeBindingMode: ptr(storagev1.VolumeBindingImmediate)}
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns", ResourceVersion: "1"}, AddressType: discoveryv1.AddressTypeIPv4}
	tests := []struct {
		name     string
		obj, old runtime.Object
		want     []want
	}{
		{"roleRef immutable", func() runtime.Object { b := rb.DeepCopy(); b.RoleRef.Name = "other"; return b }(), rb, []want{invalid("roleRef")}},
		{"subjects may change", func() runtime.Object {
			b := rb.DeepCopy()
			b.Subjects = []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice"}}
			return b
		}(), rb, nil},
		{"priority value immutable", func() runtime.Object { p := pc.DeepCopy(); p.Value = 11; return p }(), pc, []want{forbidden("value")}},
		{"storageclass provisioner immutable", func() runtime.Object { s := sc.DeepCopy(); s.Provisioner = "example.com/other"; return s }(), sc, []want{invalid("provisioner")}},
		{"endpointslice addressType immutable", func() runtime.Object {
			e := es.DeepCopy()
			e.AddressType = discoveryv1.AddressTypeIPv6
			return e
		}(), es, []want{invalid("addressType")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, ValidateUpdate(tt.obj, tt.old), tt.want...)
		})
	}
}
