package clientgo

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"drover.dev/e2e/framework"
)

var serviceCIDR = netip.MustParsePrefix("10.96.0.0/12")

func svcPorts() []corev1.ServicePort {
	return []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}
}

func TestServiceDefaultsAndClusterIP(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	svcs := cs.CoreV1().Services(ns)

	svc, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !serviceCIDR.Contains(ip) {
		t.Errorf("clusterIP %q is not in %s", svc.Spec.ClusterIP, serviceCIDR)
	}
	if len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
		t.Errorf("clusterIPs %v, want [%s]", svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
	}
	p := svc.Spec.Ports[0]
	for _, d := range []struct {
		field     string
		got, want any
	}{
		{"spec.type", svc.Spec.Type, corev1.ServiceTypeClusterIP},
		{"spec.sessionAffinity", svc.Spec.SessionAffinity, corev1.ServiceAffinityNone},
		{"spec.ports[0].protocol", p.Protocol, corev1.ProtocolTCP},
		{"spec.ports[0].targetPort", p.TargetPort, intstr.FromInt32(80)},
		{"spec.ports[0].nodePort", p.NodePort, int32(0)},
		{"spec.ipFamilyPolicy", deref(svc.Spec.IPFamilyPolicy), corev1.IPFamilyPolicySingleStack},
		{"spec.internalTrafficPolicy", deref(svc.Spec.InternalTrafficPolicy), corev1.ServiceInternalTrafficPolicyCluster},
	} {
		if d.got != d.want {
			t.Errorf("default %s = %v, want %v", d.field, d.got, d.want)
		}
	}
	if len(svc.Spec.IPFamilies) != 1 || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol {
		t.Errorf("spec.ipFamilies %v, want [IPv4]", svc.Spec.IPFamilies)
	}

	// spec.clusterIP is immutable: 422.
	svc.Spec.ClusterIP = "10.96.200.200"
	svc.Spec.ClusterIPs = []string{"10.96.200.200"}
	_, err = svcs.Update(ctx, svc, metav1.UpdateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	// A requested free address is given; the same address again is refused.
	want := "10.96.123.45"
	fixed, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "fixed"},
		Spec:       corev1.ServiceSpec{ClusterIP: want, Ports: svcPorts()},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create with requested clusterIP: %v", err)
	}
	if fixed.Spec.ClusterIP != want {
		t.Errorf("requested clusterIP %s, got %s", want, fixed.Spec.ClusterIP)
	}
	_, err = svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "fixed-again"},
		Spec:       corev1.ServiceSpec{ClusterIP: want, Ports: svcPorts()},
	}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	// Outside the service range: refused.
	_, err = svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "outside"},
		Spec:       corev1.ServiceSpec{ClusterIP: "192.168.1.1", Ports: svcPorts()},
	}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)

	// Headless stays headless.
	headless, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "headless"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}, Ports: svcPorts()},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("headless service got clusterIP %q", headless.Spec.ClusterIP)
	}

	// Deleting a service releases its address for reuse.
	if err := svcs.Delete(ctx, "fixed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, defaultWait, func() error {
		_, err := svcs.Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "fixed-reused"},
			Spec:       corev1.ServiceSpec{ClusterIP: want, Ports: svcPorts()},
		}, metav1.CreateOptions{})
		return err
	})
}

func TestServiceAllocationUnderConcurrency(t *testing.T) {
	c := framework.SharedCluster(t)
	cs := c.Clientset(t)
	ctx := ctxFor(t)
	ns := framework.TestNamespace(t, cs)
	svcs := cs.CoreV1().Services(ns)

	const n = 20
	results := make([]*corev1.Service, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = svcs.Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("np-%02d", i)},
				Spec: corev1.ServiceSpec{
					Type:     corev1.ServiceTypeNodePort,
					Selector: map[string]string{"app": "np"},
					Ports:    svcPorts(),
				},
			}, metav1.CreateOptions{})
		})
	}
	wg.Wait()
	ips := map[string]string{}
	nodePorts := map[int32]string{}
	for i, svc := range results {
		if errs[i] != nil {
			t.Errorf("create np-%02d: %v", i, errs[i])
			continue
		}
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !serviceCIDR.Contains(ip) {
			t.Errorf("%s: clusterIP %q not in %s", svc.Name, svc.Spec.ClusterIP, serviceCIDR)
		}
		if other, dup := ips[svc.Spec.ClusterIP]; dup {
			t.Errorf("%s and %s both got clusterIP %s", other, svc.Name, svc.Spec.ClusterIP)
		}
		ips[svc.Spec.ClusterIP] = svc.Name
		np := svc.Spec.Ports[0].NodePort
		if np < 30000 || np > 32767 {
			t.Errorf("%s: nodePort %d not in 30000-32767", svc.Name, np)
		}
		if other, dup := nodePorts[np]; dup {
			t.Errorf("%s and %s both got nodePort %d", other, svc.Name, np)
		}
		nodePorts[np] = svc.Name
		if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
			t.Errorf("%s: externalTrafficPolicy %q, want Cluster", svc.Name, svc.Spec.ExternalTrafficPolicy)
		}
	}
	// What was returned is what was stored.
	list, err := svcs.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range list.Items {
		if ips[svc.Spec.ClusterIP] != svc.Name {
			t.Errorf("stored %s has clusterIP %s, create returned it for %q", svc.Name, svc.Spec.ClusterIP, ips[svc.Spec.ClusterIP])
		}
	}
	// A requested nodePort that is taken is refused.
	taken := results[0]
	if taken == nil {
		return
	}
	ports := svcPorts()
	ports[0].NodePort = taken.Spec.Ports[0].NodePort
	_, err = svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "np-taken"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports},
	}, metav1.CreateOptions{})
	wantStatus(t, err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
}
