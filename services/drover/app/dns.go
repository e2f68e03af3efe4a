package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Cluster DNS: drover-dns runs as a process on the host, like the rest of
// the control plane, and the DNS Service points at it through an
// EndpointSlice drover writes. A Deployment would need an image holding
// drover-dns, which a machine without a registry does not have; a process
// also answers before any node is Ready.
const (
	// ClusterDNSIP is the DNS Service's ClusterIP, the kubelets' default
	// --cluster-dns.
	ClusterDNSIP = "10.96.0.10"
	// DNSServiceName is the Service, in kube-system, as Kubernetes names it.
	DNSServiceName = "kube-dns"
	// DNSPort is where drover-dns listens; the Service's port 53 maps to it,
	// so the host's own port 53 stays free for the host's resolver.
	DNSPort = 10053
	// dnsManagedBy marks the EndpointSlice as drover's, so the
	// controller-manager leaves it alone.
	dnsManagedBy = "drover-up"
)

// errNoHostAddress is returned when a one-node cluster's DNS has no address
// its pods can reach.
var errNoHostAddress = errors.New("no IPv4 address on the default route's interface for drover-dns (pods cannot reach the host's loopback); leave dns out of --components")

// dnsListenAddr is where drover-dns listens: an address of the host the
// pods reach through their node's routing. With nodes in namespaces of
// their own, the bridge's host address; with one node in the host's
// namespace, the address of the default route's interface (the one the
// kubelet takes as the node's InternalIP).
func dnsListenAddr(cfg *upConfig) (netip.AddrPort, error) {
	if cfg.net != nil {
		return netip.AddrPortFrom(cfg.net.HostIP(), DNSPort), nil
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dns: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
			continue
		}
		link, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip.IsGlobalUnicast() {
				return netip.AddrPortFrom(ip, DNSPort), nil
			}
		}
	}
	return netip.AddrPort{}, errNoHostAddress
}

// publishDNSService creates or updates the kube-dns Service at ClusterDNSIP
// and its EndpointSlice pointing at drover-dns.
func publishDNSService(ctx context.Context, client kubernetes.Interface, addr netip.AddrPort) error {
	const ns = metav1.NamespaceSystem
	target := intstr.FromInt32(int32(addr.Port()))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: DNSServiceName, Namespace: ns, Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.ServiceSpec{
			// No selector: the endpoints are drover's.
			ClusterIP: ClusterDNSIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: target},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: target},
			},
		},
	}
	cur, err := client.CoreV1().Services(ns).Get(ctx, DNSServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("dns: create Service %s/%s: %w", ns, DNSServiceName, err)
		}
	case err != nil:
		return fmt.Errorf("dns: get Service %s/%s: %w", ns, DNSServiceName, err)
	default:
		if cur.Spec.ClusterIP != ClusterDNSIP {
			return fmt.Errorf("dns: Service %s/%s has ClusterIP %s, not %s; delete it and restart drover up", ns, DNSServiceName, cur.Spec.ClusterIP, ClusterDNSIP)
		}
		cur.Spec.Ports, cur.Spec.Selector = svc.Spec.Ports, nil
		if _, err := client.CoreV1().Services(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("dns: update Service %s/%s: %w", ns, DNSServiceName, err)
		}
	}

	ready := true
	port := int32(addr.Port())
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dnsName, tcpName := "dns", "dns-tcp"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: DNSServiceName + "-drover", Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: DNSServiceName,
			discoveryv1.LabelManagedBy:   dnsManagedBy,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr.Addr().String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: &dnsName, Protocol: &udp, Port: &port},
			{Name: &tcpName, Protocol: &tcp, Port: &port},
		},
	}
	slices := client.DiscoveryV1().EndpointSlices(ns)
	curSlice, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = curSlice.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("dns: EndpointSlice %s/%s: %w", ns, slice.Name, err)
	}
	return nil
}
