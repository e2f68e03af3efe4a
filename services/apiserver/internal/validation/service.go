package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxClientIPAffinitySeconds is a day, Kubernetes' cap on session stickiness.
const maxClientIPAffinitySeconds = 86400

func validateService(svc *corev1.Service) field.ErrorList {
	// Service names are DNS labels since RelaxedServiceNameValidation went GA
	// in 1.37 (before, DNS-1035 labels).
	all := validateMeta(&svc.ObjectMeta, true, apivalidation.NameIsDNSLabel)
	return append(all, validateServiceSpec(svc, nil)...)
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	all := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateClusterIPsUpdate(svc, old)...)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && old.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalPtr(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
		all = append(all, field.Invalid(specPath.Child("loadBalancerClass"), svc.Spec.LoadBalancerClass, "may not change once set"))
	}
	if needsHealthCheck(svc) && needsHealthCheck(old) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		all = append(all, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return append(all, validateServiceSpec(svc, old)...)
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	all := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	p := statusPath.Child("loadBalancer", "ingress")
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) != 0 {
		return append(all, field.Forbidden(p, "may only be used when `spec.type` is 'LoadBalancer'"))
	}
	var oldIPs []string
	for _, in := range old.Status.LoadBalancer.Ingress {
		oldIPs = append(oldIPs, in.IP)
	}
	for i, in := range svc.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if in.IP != "" {
			all = append(all, validateIP(in.IP, ip.Child("ip"), oldIPs)...)
		}
		switch {
		case in.IPMode == nil && in.IP != "":
			all = append(all, field.Required(ip.Child("ipMode"), "must be specified when `ip` is set"))
		case in.IPMode != nil && in.IP == "":
			all = append(all, field.Forbidden(ip.Child("ipMode"), "may not be specified when `ip` is not set"))
		case in.IPMode != nil:
			all = append(all, validateEnum(*in.IPMode, ip.Child("ipMode"), corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP)...)
		}
		if in.Hostname != "" {
			all = append(all, validateDNS1123Subdomain(in.Hostname, ip.Child("hostname"))...)
			if isIPv4String(in.Hostname) || isIPv6String(in.Hostname) {
				all = append(all, field.Invalid(ip.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return all
}

// clusterIPs reads the service's cluster IPs the way the service strategy
// syncs them before validation: clusterIPs wins, a lone clusterIP fills it.
func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	if svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return nil
}

func isHeadless(svc *corev1.Service) bool {
	ips := clusterIPs(svc)
	return len(ips) == 1 && ips[0] == corev1.ClusterIPNone
}

func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// validateServiceSpec holds the checks shared by create and update; old is
// nil on create and lets values already stored pass newer, stricter rules.
func validateServiceSpec(svc, old *corev1.Service) field.ErrorList {
	var all field.ErrorList
	spec := &svc.Spec
	headless := isHeadless(svc)
	if len(spec.Ports) == 0 && !headless && spec.Type != corev1.ServiceTypeExternalName {
		all = append(all, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if headless {
			all = append(all, field.Invalid(specPath.Child("clusterIPs").Index(0), corev1.ClusterIPNone,
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(clusterIPs(svc)) > 0 {
			all = append(all, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			all = append(all, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			all = append(all, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the CNAME fully qualified.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname != "" {
			all = append(all, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			all = append(all, field.Required(specPath.Child("externalName"), ""))
		}
	}

	portsPath := specPath.Child("ports")
	names := map[string]bool{}
	type portKey struct {
		protocol corev1.Protocol
		port     int32
	}
	ports, nodePorts := map[portKey]bool{}, map[portKey]bool{}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		p := portsPath.Index(i)
		all = append(all, validateServicePort(sp, len(spec.Ports) > 1, names, p)...)
		if spec.Type == corev1.ServiceTypeClusterIP && sp.NodePort != 0 {
			all = append(all, field.Forbidden(p.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		}
		if sp.NodePort != 0 {
			k := portKey{sp.Protocol, sp.NodePort}
			if nodePorts[k] {
				all = append(all, field.Duplicate(p.Child("nodePort"), sp.NodePort))
			}
			nodePorts[k] = true
		}
		k := portKey{sp.Protocol, sp.Port}
		if ports[k] {
			all = append(all, field.Duplicate(p, corev1.ServicePort{Protocol: sp.Protocol, Port: sp.Port}))
		}
		ports[k] = true
	}

	if spec.Selector != nil {
		all = append(all, metavalidation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}
	all = append(all, validateEnum(spec.SessionAffinity, specPath.Child("sessionAffinity"), corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)...)
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		all = append(all, validateClientIPAffinity(spec.SessionAffinityConfig, specPath.Child("sessionAffinityConfig"))...)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			all = append(all, field.Forbidden(specPath.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	}
	all = append(all, validateClusterIPs(svc, old)...)

	var oldExternalIPs []string
	if old != nil {
		oldExternalIPs = old.Spec.ExternalIPs
	}
	for i, ip := range spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		if e := validateIP(ip, p, oldExternalIPs); len(e) != 0 {
			all = append(all, e...)
		} else {
			all = append(all, validateEndpointIP(ip, p)...)
		}
	}

	all = append(all, validateEnum(spec.Type, specPath.Child("type"),
		corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)...)

	if len(spec.LoadBalancerSourceRanges) > 0 {
		// Kubernetes capitalises this path; kept for identical messages.
		p := specPath.Child("LoadBalancerSourceRanges")
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			all = append(all, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		var oldRanges []string
		if old != nil {
			for _, r := range old.Spec.LoadBalancerSourceRanges {
				oldRanges = append(oldRanges, strings.TrimSpace(r))
			}
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			all = append(all, validateCIDR(strings.TrimSpace(r), p.Index(i), oldRanges)...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		all = append(all, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		// Kubernetes reports this one without the spec prefix.
		all = append(all, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		if spec.Type == corev1.ServiceTypeLoadBalancer {
			all = append(all, validateQualifiedName(*spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
		} else {
			all = append(all, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		}
	}

	if !externallyAccessible(svc) {
		if spec.ExternalTrafficPolicy != "" {
			all = append(all, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else {
		all = append(all, validateEnum(spec.ExternalTrafficPolicy, specPath.Child("externalTrafficPolicy"),
			corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)...)
	}
	// The health check port is allocated like a node port, after
	// validation, so only a value that is set is checked.
	if !needsHealthCheck(svc) && spec.HealthCheckNodePort != 0 {
		all = append(all, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	} else if spec.HealthCheckNodePort != 0 {
		all = append(all, errs(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort, validation.IsValidPortNum(int(spec.HealthCheckNodePort)))...)
	}
	switch {
	case spec.InternalTrafficPolicy != nil:
		all = append(all, validateEnum(*spec.InternalTrafficPolicy, specPath.Child("internalTrafficPolicy"),
			corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)...)
	case spec.Type == corev1.ServiceTypeClusterIP || spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer:
		all = append(all, field.Required(specPath.Child("internalTrafficPolicy"), ""))
	}
	if td := spec.TrafficDistribution; td != nil {
		valid := []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode}
		if !slices.Contains(valid, *td) {
			all = append(all, field.NotSupported(specPath.Child("trafficDistribution"), *td, valid))
		}
	}
	return all
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	if requireName && sp.Name == "" {
		all = append(all, field.Required(fldPath.Child("name"), ""))
	} else if sp.Name != "" {
		all = append(all, validateDNS1123Label(sp.Name, fldPath.Child("name"))...)
		if names[sp.Name] {
			all = append(all, field.Duplicate(fldPath.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	all = append(all, errs(fldPath.Child("port"), sp.Port, validation.IsValidPortNum(int(sp.Port)))...)
	all = append(all, validateProtocol(sp.Protocol, fldPath.Child("protocol"))...)
	all = append(all, validatePortNumOrName(sp.TargetPort, fldPath.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		all = append(all, validateQualifiedName(*sp.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return all
}

func validateClientIPAffinity(cfg *corev1.SessionAffinityConfig, fldPath *field.Path) field.ErrorList {
	when := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
	switch {
	case cfg == nil:
		return field.ErrorList{field.Required(fldPath, when)}
	case cfg.ClientIP == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP"), when)}
	case cfg.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP", "timeoutSeconds"), when)}
	}
	if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(fldPath.Child("clientIP", "timeoutSeconds"), t, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

// validateClusterIPs checks clusterIP/clusterIPs/ipFamilies consistency.
// Families and policy may still be unset here: the allocator fills them in.
func validateClusterIPs(svc, old *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var all field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	// A clusterIPs list without clusterIP is accepted: kube-apiserver's
	// strategy copies clusterIPs[0] into clusterIP before validating.
	if spec.ClusterIP != "" && len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		all = append(all, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	families := []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		if !slices.Contains(families, f) {
			all = append(all, field.NotSupported(specPath.Child("ipFamilies").Index(i), f, families))
		}
		if seen[f] {
			all = append(all, field.Duplicate(specPath.Child("ipFamilies").Index(i), f))
		}
		seen[f] = true
	}
	if p := spec.IPFamilyPolicy; p != nil {
		all = append(all, validateEnum(*p, specPath.Child("ipFamilyPolicy"),
			corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack)...)
	}
	var oldIPs []string
	if old != nil {
		oldIPs = clusterIPs(old)
	}
	ips := clusterIPs(svc)
	invalid := false
	for i, ip := range ips {
		if ip == corev1.ClusterIPNone && i == 0 {
			if len(ips) > 1 {
				invalid = true
				all = append(all, field.Invalid(ipsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		e := validateIP(ip, ipsPath.Index(i), oldIPs)
		invalid = invalid || len(e) > 0
		all = append(all, e...)
	}
	if len(ips) > 2 {
		all = append(all, field.Invalid(ipsPath, ips, "may only hold up to 2 values"))
	}
	if invalid {
		return all // family checks on bad addresses would only add noise
	}
	if len(ips) > 1 && !isDualStack(ips, isIPv6String) {
		all = append(all, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range ips {
			if i >= len(spec.IPFamilies) {
				break
			}
			if spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6String(ip) {
				all = append(all, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6String(ip) {
				all = append(all, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return all
}

// validateClusterIPsUpdate keeps allocated cluster IPs: the primary may not
// change, though a secondary may be added or released, and anything goes
// when the service moves to or from ExternalName. An empty clusterIP in the
// update means "keep" (the strategy copies the old one over), not "release".
func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	ips, oldIPs := clusterIPs(svc), clusterIPs(old)
	if len(ips) == 0 || len(oldIPs) == 0 || (isHeadless(svc) && isHeadless(old)) {
		return nil
	}
	p := specPath.Child("clusterIPs")
	if ips[0] != oldIPs[0] {
		return field.ErrorList{field.Invalid(p.Index(0), ips, "may not change once set")}
	}
	if len(ips) == len(oldIPs) {
		for i := range ips {
			if ips[i] != oldIPs[i] {
				return field.ErrorList{field.Invalid(p.Index(i), ips, "may not change once set")}
			}
		}
	}
	if len(ips) < len(oldIPs) && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
		return field.ErrorList{field.Invalid(specPath.Child("ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP")}
	}
	return nil
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
