package validation

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxIngressClassControllerLength is Kubernetes' cap on spec.controller.
const maxIngressClassControllerLength = 250

// Path pieces an ingress controller could resolve outside the intended prefix.
var (
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// Ingress

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	all := validateMeta(&ing.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateIngressSpec(&ing.Spec, nil)...)
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	all := validateMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	return append(all, validateIngressSpec(&ing.Spec, &old.Spec)...)
}

// validateIngressSpec takes the old spec so that TLS secret names stored
// before they were checked stay acceptable.
func validateIngressSpec(spec, old *networkingv1.IngressSpec) field.ErrorList {
	var all field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		all = append(all, field.Invalid(specPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		all = append(all, validateIngressBackend(spec.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		p := specPath.Child("rules").Index(i)
		if r.Host != "" {
			if net.ParseIP(r.Host) != nil {
				all = append(all, field.Invalid(p.Child("host"), r.Host, "must be a DNS name, not an IP address"))
			}
			if strings.Contains(r.Host, "*") {
				all = append(all, errs(p.Child("host"), r.Host, validation.IsWildcardDNS1123Subdomain(r.Host))...)
			} else {
				all = append(all, validateDNS1123Subdomain(r.Host, p.Child("host"))...)
			}
		}
		if r.HTTP == nil {
			continue
		}
		hp := p.Child("http")
		if len(r.HTTP.Paths) == 0 {
			all = append(all, field.Required(hp.Child("paths"), ""))
		}
		for j := range r.HTTP.Paths {
			all = append(all, validateHTTPIngressPath(&r.HTTP.Paths[j], hp.Child("paths").Index(j))...)
		}
	}
	allowBadSecret := old != nil && hasInvalidTLSSecretName(old)
	for i, tls := range spec.TLS {
		p := specPath.Child("tls").Index(i)
		for j, host := range tls.Hosts {
			if strings.Contains(host, "*") {
				all = append(all, errs(p.Child("hosts").Index(j), host, validation.IsWildcardDNS1123Subdomain(host))...)
			} else {
				all = append(all, validateDNS1123Subdomain(host, p.Child("hosts").Index(j))...)
			}
		}
		if tls.SecretName != "" && !allowBadSecret {
			all = append(all, errs(p.Child("secretName"), tls.SecretName, apivalidation.NameIsDNSSubdomain(tls.SecretName, false))...)
		}
	}
	if c := spec.IngressClassName; c != nil {
		all = append(all, errs(specPath.Child("ingressClassName"), *c, apivalidation.NameIsDNSSubdomain(*c, false))...)
	}
	return all
}

func hasInvalidTLSSecretName(spec *networkingv1.IngressSpec) bool {
	for _, tls := range spec.TLS {
		if tls.SecretName != "" && len(apivalidation.NameIsDNSSubdomain(tls.SecretName, false)) > 0 {
			return true
		}
	}
	return false
}

func validateHTTPIngressPath(path *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if path.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var all field.ErrorList
	switch *path.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(path.Path, "/") {
			all = append(all, field.Invalid(fldPath.Child("path"), path.Path, "must be an absolute path"))
		}
		for _, seq := range invalidPathSequences {
			if strings.Contains(path.Path, seq) {
				all = append(all, field.Invalid(fldPath.Child("path"), path.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suffix := range invalidPathSuffixes {
			if strings.HasSuffix(path.Path, suffix) {
				all = append(all, field.Invalid(fldPath.Child("path"), path.Path, fmt.Sprintf("cannot end with '%s'", suffix)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
			all = append(all, field.Invalid(fldPath.Child("path"), path.Path, "must be an absolute path"))
		}
	default:
		all = append(all, notSupported(fldPath.Child("pathType"), *path.PathType,
			networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix))
	}
	return append(all, validateIngressBackend(&path.Backend, fldPath.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		return validateTypedLocalObjectReference(b.Resource, fldPath.Child("resource"))
	case b.Service == nil:
		return field.ErrorList{field.Invalid(fldPath, "", "resource or service backend is required")}
	}
	var all field.ErrorList
	sp := fldPath.Child("service")
	if b.Service.Name == "" {
		all = append(all, field.Required(sp.Child("name"), ""))
	} else {
		all = append(all, errs(sp.Child("name"), b.Service.Name, apivalidation.NameIsDNSLabel(b.Service.Name, false))...)
	}
	port := b.Service.Port
	switch {
	case port.Name != "" && port.Number != 0:
		all = append(all, field.Invalid(fldPath, "", "cannot set both port name & port number"))
	case port.Name != "":
		all = append(all, errs(sp.Child("port", "name"), port.Name, validation.IsValidPortName(port.Name))...)
	case port.Number != 0:
		all = append(all, errs(sp.Child("port", "number"), port.Number, validation.IsValidPortNum(int(port.Number)))...)
	default:
		all = append(all, field.Required(fldPath, "port name or number is required"))
	}
	return all
}

func validateTypedLocalObjectReference(ref *corev1.TypedLocalObjectReference, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if g := ref.APIGroup; g != nil {
		all = append(all, validateDNS1123Subdomain(*g, fldPath.Child("apiGroup"))...)
	}
	all = append(all, validateRequiredPathSegment(ref.Kind, fldPath.Child("kind"))...)
	return append(all, validateRequiredPathSegment(ref.Name, fldPath.Child("name"))...)
}

func validateRequiredPathSegment(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return errs(fldPath, value, pathvalidation.ValidatePathSegmentName(value, false))
}

func validateIngressStatusUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	all := validateMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	var oldIPs []string
	for _, in := range old.Status.LoadBalancer.Ingress {
		oldIPs = append(oldIPs, in.IP)
	}
	p := statusPath.Child("loadBalancer", "ingress")
	for i, in := range ing.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if in.IP != "" {
			all = append(all, validateIP(in.IP, ip.Child("ip"), oldIPs)...)
		}
		if in.Hostname != "" {
			all = append(all, validateDNS1123Subdomain(in.Hostname, ip.Child("hostname"))...)
			if net.ParseIP(in.Hostname) != nil {
				all = append(all, field.Invalid(ip.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return all
}

// IngressClass

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	all := validateMeta(&ic.ObjectMeta, false, apivalidation.NameIsDNSSubdomain)
	return append(all, validateIngressClassSpec(&ic.Spec)...)
}

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec) field.ErrorList {
	var all field.ErrorList
	cp := specPath.Child("controller")
	if len(spec.Controller) > maxIngressClassControllerLength {
		all = append(all, field.TooLong(cp, "", maxIngressClassControllerLength))
	}
	all = append(all, validation.IsDomainPrefixedPath(cp, spec.Controller)...)
	params := spec.Parameters
	if params == nil {
		return all
	}
	pp := specPath.Child("parameters")
	if g := params.APIGroup; g != nil {
		all = append(all, validateDNS1123Subdomain(*g, pp.Child("apiGroup"))...)
	}
	all = append(all, validateRequiredPathSegment(params.Kind, pp.Child("kind"))...)
	all = append(all, validateRequiredPathSegment(params.Name, pp.Child("name"))...)
	if params.Scope == nil {
		return append(all, field.Required(pp.Child("scope"), ""))
	}
	switch *params.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if params.Namespace == nil {
			all = append(all, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			all = append(all, errs(pp.Child("namespace"), *params.Namespace, apivalidation.ValidateNamespaceName(*params.Namespace, false))...)
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if params.Namespace != nil {
			all = append(all, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		all = append(all, notSupported(pp.Child("scope"), *params.Scope,
			networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace))
	}
	return all
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	all := validateMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	// Ingresses were admitted by one controller; switching would orphan them.
	all = append(all, validateImmutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))...)
	return append(all, validateIngressClassSpec(&ic.Spec)...)
}

// NetworkPolicy

func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	all := validateMeta(&np.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(all, validateNetworkPolicySpec(&np.Spec, nil)...)
}

func validateNetworkPolicyUpdate(np, old *networkingv1.NetworkPolicy) field.ErrorList {
	all := validateMetaUpdate(&np.ObjectMeta, &old.ObjectMeta)
	return append(all, validateNetworkPolicySpec(&np.Spec, &old.Spec)...)
}

// validateNetworkPolicySpec takes the old spec so that CIDRs stored under
// looser rules stay acceptable.
func validateNetworkPolicySpec(spec, old *networkingv1.NetworkPolicySpec) field.ErrorList {
	all := validateLabelSelector(&spec.PodSelector, specPath.Child("podSelector"))
	var oldCIDRs []string
	if old != nil {
		for _, p := range flattenPeers(old) {
			if p.IPBlock != nil {
				oldCIDRs = append(oldCIDRs, p.IPBlock.CIDR)
				oldCIDRs = append(oldCIDRs, p.IPBlock.Except...)
			}
		}
	}
	for i, r := range spec.Ingress {
		rp := specPath.Child("ingress").Index(i)
		for j := range r.Ports {
			all = append(all, validateNetworkPolicyPort(&r.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range r.From {
			all = append(all, validateNetworkPolicyPeer(&r.From[j], oldCIDRs, rp.Child("from").Index(j))...)
		}
	}
	for i, r := range spec.Egress {
		rp := specPath.Child("egress").Index(i)
		for j := range r.Ports {
			all = append(all, validateNetworkPolicyPort(&r.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range r.To {
			all = append(all, validateNetworkPolicyPeer(&r.To[j], oldCIDRs, rp.Child("to").Index(j))...)
		}
	}
	tp := specPath.Child("policyTypes")
	if len(spec.PolicyTypes) > 2 {
		return append(all, field.Invalid(tp, &spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			all = append(all, notSupported(tp.Index(i), t, networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		}
	}
	return all
}

func flattenPeers(spec *networkingv1.NetworkPolicySpec) []networkingv1.NetworkPolicyPeer {
	var peers []networkingv1.NetworkPolicyPeer
	for _, r := range spec.Ingress {
		peers = append(peers, r.From...)
	}
	for _, r := range spec.Egress {
		peers = append(peers, r.To...)
	}
	return peers
}

func validateNetworkPolicyPort(port *networkingv1.NetworkPolicyPort, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if p := port.Protocol; p != nil && *p != corev1.ProtocolTCP && *p != corev1.ProtocolUDP && *p != corev1.ProtocolSCTP {
		all = append(all, notSupported(fldPath.Child("protocol"), *p, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP))
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			all = append(all, field.Invalid(fldPath.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		all = append(all, errs(fldPath.Child("port"), port.Port.IntVal, validation.IsValidPortNum(int(port.Port.IntVal)))...)
		if e := port.EndPort; e != nil {
			if *e < port.Port.IntVal {
				all = append(all, field.Invalid(fldPath.Child("endPort"), *e, "must be greater than or equal to `port`"))
			}
			all = append(all, errs(fldPath.Child("endPort"), *e, validation.IsValidPortNum(int(*e)))...)
		}
	default:
		if e := port.EndPort; e != nil {
			all = append(all, field.Invalid(fldPath.Child("endPort"), *e, "may not be specified when `port` is non-numeric"))
		}
		all = append(all, errs(fldPath.Child("port"), port.Port.StrVal, validation.IsValidPortName(port.Port.StrVal))...)
	}
	return all
}

func validateNetworkPolicyPeer(peer *networkingv1.NetworkPolicyPeer, oldCIDRs []string, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		all = append(all, validateLabelSelector(peer.PodSelector, fldPath.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		all = append(all, validateLabelSelector(peer.NamespaceSelector, fldPath.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		all = append(all, validateIPBlock(peer.IPBlock, oldCIDRs, fldPath.Child("ipBlock"))...)
	}
	switch {
	case n == 0:
		all = append(all, field.Required(fldPath, "must specify a peer"))
	case n > 1 && peer.IPBlock != nil:
		all = append(all, field.Forbidden(fldPath, "may not specify both ipBlock and another peer"))
	}
	return all
}

func validateIPBlock(b *networkingv1.IPBlock, oldCIDRs []string, fldPath *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(fldPath.Child("cidr"), "")}
	}
	all := validateCIDR(b.CIDR, fldPath.Child("cidr"), oldCIDRs)
	_, block, err := net.ParseCIDR(b.CIDR)
	if err != nil {
		return all
	}
	blockLen, _ := block.Mask.Size()
	for i, ex := range b.Except {
		p := fldPath.Child("except").Index(i)
		all = append(all, validateCIDR(ex, p, oldCIDRs)...)
		_, exNet, err := net.ParseCIDR(ex)
		if err != nil {
			continue
		}
		exLen, _ := exNet.Mask.Size()
		if !block.Contains(exNet.IP) || blockLen >= exLen {
			all = append(all, field.Invalid(p, ex, "must be a strict subset of `cidr`"))
		}
	}
	return all
}
