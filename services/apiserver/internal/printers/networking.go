package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printers for networking.k8s.io and discovery.k8s.io.

func networking(kind string) schema.GroupKind {
	return schema.GroupKind{Group: networkingv1.GroupName, Kind: kind}
}

func init() {
	register(networking("Ingress"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
			column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
			column("Address", "Address is a list containing ingress points for the load-balancer"),
			column("Ports", "Ports of TLS configurations that open"),
			ageColumn,
		},
		rows: rowsOf(ingressCells),
	})
	register(networking("IngressClass"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Controller", "Controller that is responsible for handling this class"),
			column("Parameters", "A reference to a resource with additional parameters"),
			ageColumn,
		},
		rows: rowsOf(ingressClassCells),
	})
	register(networking("NetworkPolicy"), &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Pod-Selector", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
			ageColumn,
		},
		rows: rowsOf(func(np *networkingv1.NetworkPolicy, now time.Time) []any {
			return []any{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), since(np.CreationTimestamp, now)}
		}),
	})
	sliceDoc := discoveryv1.EndpointSlice{}.SwaggerDoc()
	register(schema.GroupKind{Group: discoveryv1.GroupName, Kind: "EndpointSlice"}, &kindPrinter{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("AddressType", sliceDoc["addressType"]),
			column("Ports", sliceDoc["ports"]),
			column("Endpoints", sliceDoc["endpoints"]),
			ageColumn,
		},
		rows: rowsOf(endpointSliceCells),
	})
}

func ingressCells(ing *networkingv1.Ingress, now time.Time) []any {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	addrs := make([]string, 0, len(ing.Status.LoadBalancer.Ingress))
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		addrs = append(addrs, loadBalancerAddress(lb.IP, lb.Hostname))
	}
	// Ingress controllers serve HTTP, and HTTPS when TLS is configured.
	ports := "80"
	if len(ing.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	return []any{ing.Name, class, ingressHosts(ing.Spec.Rules), joinAddresses(addrs), ports, since(ing.CreationTimestamp, now)}
}

// ingressHosts lists the hosts of the first rules, "*" when none names a
// host. Once three hosts are listed, any further rule, with a host or not,
// is counted as "+ N more...".
func ingressHosts(rules []networkingv1.IngressRule) string {
	var hosts []string
	for _, r := range rules {
		if len(hosts) == maxListed {
			return fmt.Sprintf("%s + %d more...", strings.Join(hosts, ","), len(rules)-maxListed)
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	return strings.Join(hosts, ",")
}

func ingressClassCells(ic *networkingv1.IngressClass, now time.Time) []any {
	name := ic.Name
	if ic.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
		name += " (default)"
	}
	params := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		params = p.Kind
		if p.APIGroup != nil {
			params += "." + *p.APIGroup
		}
		params += "/" + p.Name
	}
	return []any{name, ic.Spec.Controller, params, since(ic.CreationTimestamp, now)}
}

func endpointSliceCells(es *discoveryv1.EndpointSlice, now time.Time) []any {
	var ports []string
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	for _, ep := range es.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	return []any{es.Name, string(es.AddressType), firstFew(ports), firstFew(addrs), since(es.CreationTimestamp, now)}
}

// firstFew lists the first entries of a list cell, "<unset>" when empty.
func firstFew(items []string) string {
	s := truncatedList(items[:min(len(items), maxListed)], len(items), maxListed)
	if s == "" {
		return "<unset>"
	}
	return s
}
