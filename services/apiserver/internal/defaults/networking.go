package defaults

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

func defaultNetworkPolicy(np *networkingv1.NetworkPolicy) {
	// Policy types were added after ingress-only policies existed: none listed means
	// Ingress, plus Egress when egress rules show that is meant too.
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	for i := range np.Spec.Ingress {
		defaultNetworkPolicyPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultNetworkPolicyPorts(np.Spec.Egress[i].Ports)
	}
}

func defaultNetworkPolicyPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		setIfNil(&ports[i].Protocol, corev1.ProtocolTCP)
	}
}

func defaultIngressClass(ic *networkingv1.IngressClass) {
	if params := ic.Spec.Parameters; params != nil {
		setIfNil(&params.Scope, networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

func defaultEndpointSlice(slice *discoveryv1.EndpointSlice) {
	for i := range slice.Ports {
		setIfNil(&slice.Ports[i].Name, "")
		setIfNil(&slice.Ports[i].Protocol, corev1.ProtocolTCP)
	}
}
