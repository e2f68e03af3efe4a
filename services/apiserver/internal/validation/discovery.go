package validation

import (
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Size limits from Kubernetes' discovery validation; they keep one slice
// small enough to watch cheaply.
const (
	maxTopologyLabels     = 16
	maxEndpointAddresses  = 100
	maxEndpointSlicePorts = 20000
	maxEndpoints          = 1000
	maxZoneHints          = 8
	maxNodeHints          = 8
)

var addressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	all := validateEndpointSliceCommon(es)
	return append(all, validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
}

func validateEndpointSliceCommon(es *discoveryv1.EndpointSlice) field.ErrorList {
	all := validateMeta(&es.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	all = append(all, validateEnum(es.AddressType, field.NewPath("addressType"), addressTypes...)...)
	return append(all, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	all := validateMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	all = append(all, validateEndpointSliceCommon(es)...)
	// Endpoints stored under older rules stay acceptable while unchanged.
	if e := validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints")); len(e) > 0 &&
		!apiequality.Semantic.DeepEqual(es.Endpoints, old.Endpoints) {
		all = append(all, e...)
	}
	return append(all, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addressType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var all field.ErrorList
	for i, ep := range endpoints {
		p := fldPath.Index(i)
		ap := p.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			all = append(all, field.Required(ap, "must contain at least 1 address"))
		case len(ep.Addresses) > maxEndpointAddresses:
			all = append(all, field.TooMany(ap, len(ep.Addresses), maxEndpointAddresses))
		}
		for j, addr := range ep.Addresses {
			all = append(all, validateSliceAddress(addr, addressType, ap, ap.Index(j))...)
		}
		if n := ep.NodeName; n != nil {
			all = append(all, errs(p.Child("nodeName"), *n, apivalidation.NameIsDNSSubdomain(*n, false))...)
		}
		tp := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			all = append(all, field.TooMany(tp, len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		all = append(all, metavalidation.ValidateLabels(ep.DeprecatedTopology, tp)...)
		if h := ep.Hostname; h != nil {
			all = append(all, validateDNS1123Label(*h, p.Child("hostname"))...)
		}
		if ep.Hints != nil {
			all = append(all, validateHints(ep.Hints, p.Child("hints"))...)
		}
	}
	return all
}

// validateSliceAddress checks an address against the slice's address type;
// unknown types were reported already and are not checked further.
func validateSliceAddress(addr string, addressType discoveryv1.AddressType, listPath, fldPath *field.Path) field.ErrorList {
	switch addressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		// Kubernetes reports the wrong family at the list, not the element.
		if e := validateIP(addr, fldPath, nil); len(e) > 0 {
			return e
		}
		var all field.ErrorList
		if addressType == discoveryv1.AddressTypeIPv4 && !isIPv4String(addr) {
			all = append(all, field.Invalid(listPath, addr, "must be an IPv4 address"))
		}
		if addressType == discoveryv1.AddressTypeIPv6 && !isIPv6String(addr) {
			all = append(all, field.Invalid(listPath, addr, "must be an IPv6 address"))
		}
		return append(all, validateEndpointIP(addr, fldPath)...)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, addr)
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxEndpointSlicePorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxEndpointSlicePorts)}
	}
	var all field.ErrorList
	var names []string
	for i, port := range ports {
		p := fldPath.Index(i)
		// Defaulting sets an empty name; a nil one is treated the same.
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			all = append(all, validateDNS1123Label(name, p.Child("name"))...)
		}
		if slices.Contains(names, name) {
			all = append(all, field.Duplicate(p.Child("name"), name))
		} else {
			names = append(names, name)
		}
		if port.Protocol == nil {
			all = append(all, field.Required(p.Child("protocol"), ""))
		} else if !slices.Contains(supportedPortProtocols, *port.Protocol) {
			all = append(all, field.NotSupported(p.Child("protocol"), *port.Protocol, supportedPortProtocols))
		}
		if ap := port.AppProtocol; ap != nil {
			all = append(all, validateQualifiedName(*ap, p.Child("appProtocol"))...)
		}
	}
	return all
}

func validateHints(h *discoveryv1.EndpointHints, fldPath *field.Path) field.ErrorList {
	var all field.ErrorList
	zp := fldPath.Child("forZones")
	if len(h.ForZones) > maxZoneHints {
		return field.ErrorList{field.TooMany(zp, len(h.ForZones), maxZoneHints)}
	}
	var zones []string
	for i, z := range h.ForZones {
		p := zp.Index(i).Child("name")
		if slices.Contains(zones, z.Name) {
			all = append(all, field.Duplicate(p, z.Name))
		} else {
			zones = append(zones, z.Name)
		}
		all = append(all, errs(p, z.Name, validation.IsValidLabelValue(z.Name))...)
	}
	np := fldPath.Child("forNodes")
	if len(h.ForNodes) > maxNodeHints {
		return append(all, field.TooMany(np, len(h.ForNodes), maxNodeHints))
	}
	var nodes []string
	for i, n := range h.ForNodes {
		p := np.Index(i).Child("name")
		if slices.Contains(nodes, n.Name) {
			all = append(all, field.Duplicate(p, n.Name))
		} else {
			nodes = append(nodes, n.Name)
		}
		all = append(all, errs(p, n.Name, apivalidation.NameIsDNSSubdomain(n.Name, false))...)
	}
	return all
}
