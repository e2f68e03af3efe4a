package defaults

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultHorizontalPodAutoscaler(t *testing.T) {
	target := autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}
	cpu80 := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(80))},
		},
	}}
	memory := []autoscalingv2.MetricSpec{{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceMemory,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(60))},
		},
	}}
	hpa := func(spec autoscalingv2.HorizontalPodAutoscalerSpec) *autoscalingv2.HorizontalPodAutoscaler {
		spec.ScaleTargetRef, spec.MaxReplicas = target, 10
		return &autoscalingv2.HorizontalPodAutoscaler{Spec: spec}
	}
	maxPolicy := new(autoscalingv2.MaxChangePolicySelect)

	runDefaultingTests(t, []defaultingTest{
		{
			name: "min replicas and CPU target, no behavior",
			in:   hpa(autoscalingv2.HorizontalPodAutoscalerSpec{}),
			want: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(1)), Metrics: cpu80}),
		},
		{
			name: "metrics and min replicas kept",
			in:   hpa(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(2)), Metrics: memory}),
			want: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(2)), Metrics: memory}),
		},
		{
			name: "a behavior section is completed in both directions",
			in: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))},
			}}),
			want: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(1)), Metrics: cpu80, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: new(int32(0)),
					SelectPolicy:               maxPolicy,
					Policies: []autoscalingv2.HPAScalingPolicy{
						{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
						{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
					},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: new(int32(60)),
					SelectPolicy:               maxPolicy,
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
				},
			}}),
		},
		{
			name: "user policies replace the default ones",
			in: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					SelectPolicy: new(autoscalingv2.DisabledPolicySelect),
					Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
				},
			}}),
			want: hpa(autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(1)), Metrics: cpu80, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: new(int32(0)),
					SelectPolicy:               new(autoscalingv2.DisabledPolicySelect),
					Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{
					SelectPolicy: maxPolicy,
					Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
				},
			}}),
		},
		{
			name: "autoscaling/v1 gets min replicas and the CPU target",
			in:   &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
			want: &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5, MinReplicas: new(int32(1)), TargetCPUUtilizationPercentage: new(int32(80)),
			}},
		},
		{
			name: "autoscaling/v1 with annotated metrics gets no CPU target",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{metricsAnnotation: `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]`}},
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5},
			},
			want: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{metricsAnnotation: `[{"type":"Resource","resource":{"name":"memory","targetAverageUtilization":60}}]`}},
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: new(int32(1))},
			},
		},
	})
}

func TestDefaultNetworking(t *testing.T) {
	tcp, udp := new(corev1.ProtocolTCP), new(corev1.ProtocolUDP)
	port := new(intstr.FromInt32(443))
	runDefaultingTests(t, []defaultingTest{
		{
			name: "ingress-only policy",
			in: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: port}, {Protocol: udp}}}},
			}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: port, Protocol: tcp}, {Protocol: udp}}}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			}},
		},
		{
			name: "egress rules add Egress",
			in: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Egress: []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: port}}}},
			}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: port, Protocol: tcp}}}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			}},
		},
		{
			name: "policy types kept",
			in:   &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}},
		},
		{
			name: "ingress class parameters are cluster-scoped",
			in:   &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "c"}}},
			want: &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Parameters: &networkingv1.IngressClassParametersReference{
				Kind: "Config", Name: "c", Scope: new(networkingv1.IngressClassParametersReferenceScopeCluster),
			}}},
		},
		{
			name: "ingress class without parameters",
			in:   &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress"}},
			want: &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress"}},
		},
		{
			name: "endpoint slice ports",
			in: &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{
				{Port: new(int32(80))}, {Name: new("dns"), Protocol: udp, Port: new(int32(53))},
			}},
			want: &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{
				{Name: new(""), Protocol: tcp, Port: new(int32(80))}, {Name: new("dns"), Protocol: udp, Port: new(int32(53))},
			}},
		},
	})
}

func TestDefaultRBAC(t *testing.T) {
	subjects := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, Name: "alice"},
		{Kind: rbacv1.GroupKind, Name: "devs"},
		{Kind: rbacv1.ServiceAccountKind, Name: "ci", Namespace: "build"},
		{Kind: rbacv1.UserKind, Name: "bob", APIGroup: "example.com"},
	}
	defaulted := []rbacv1.Subject{
		{Kind: rbacv1.UserKind, Name: "alice", APIGroup: "rbac.authorization.k8s.io"},
		{Kind: rbacv1.GroupKind, Name: "devs", APIGroup: "rbac.authorization.k8s.io"},
		{Kind: rbacv1.ServiceAccountKind, Name: "ci", Namespace: "build"},
		{Kind: rbacv1.UserKind, Name: "bob", APIGroup: "example.com"},
	}
	roleRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"}
	runDefaultingTests(t, []defaultingTest{
		{
			name: "role binding",
			in:   &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: subjects},
			want: &rbacv1.RoleBinding{RoleRef: roleRef, Subjects: defaulted},
		},
		{
			name: "cluster role binding",
			in:   &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: subjects},
			want: &rbacv1.ClusterRoleBinding{RoleRef: roleRef, Subjects: defaulted},
		},
	})
}

func TestDefaultStorageAndScheduling(t *testing.T) {
	runDefaultingTests(t, []defaultingTest{
		{
			name: "storage class",
			in:   &storagev1.StorageClass{Provisioner: "example.com/csi"},
			want: &storagev1.StorageClass{
				Provisioner:       "example.com/csi",
				ReclaimPolicy:     new(corev1.PersistentVolumeReclaimDelete),
				VolumeBindingMode: new(storagev1.VolumeBindingImmediate),
			},
		},
		{
			name: "storage class keeps set values",
			in: &storagev1.StorageClass{
				ReclaimPolicy:     new(corev1.PersistentVolumeReclaimRetain),
				VolumeBindingMode: new(storagev1.VolumeBindingWaitForFirstConsumer),
			},
			want: &storagev1.StorageClass{
				ReclaimPolicy:     new(corev1.PersistentVolumeReclaimRetain),
				VolumeBindingMode: new(storagev1.VolumeBindingWaitForFirstConsumer),
			},
		},
		{
			name: "priority class",
			in:   &schedulingv1.PriorityClass{Value: 1000},
			want: &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: new(corev1.PreemptLowerPriority)},
		},
		{
			name: "priority class keeps Never",
			in:   &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: new(corev1.PreemptNever)},
			want: &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: new(corev1.PreemptNever)},
		},
	})
}
