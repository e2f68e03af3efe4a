// Package integration runs drover-proxy in-process against a real apiserver,
// programming a throw-away network namespace, and sends real traffic.
package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	apitesting "drover.dev/apiserver/app/testing"
	"drover.dev/proxy/app/options"
	proxytesting "drover.dev/proxy/app/testing"
	"drover.dev/proxy/internal/netnstest"
	"drover.dev/proxy/internal/nft"
	"drover.dev/proxy/internal/routes"
)

func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServiceTrafficThroughAPIServer(t *testing.T) {
	api := apitesting.StartTestServer(t, "", nil)
	cs := kubernetes.NewForConfigOrDie(api.Config)
	ctx := context.Background()
	c := netnstest.NewCluster(t, 2, 8080)
	t.Cleanup(func() {
		if ok, _ := nft.TableExists(corev1.IPv4Protocol, c.Node.Fd()); ok {
			_ = nft.Cleanup(corev1.IPv4Protocol, c.Node.Fd())
		}
	})
	// Another node whose pod CIDR the proxy must route (host-gw).
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-b"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.77.0/24", PodCIDRs: []string{"10.244.77.0/24"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: c.ClientIP}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ts := proxytesting.StartTestServer(t, api.Config, fmt.Sprintf("/proc/self/fd/%d", c.Node.Fd()), func(o *options.Options) {
		o.MinSyncPeriod = 0
	})

	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstrFromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vip := svc.Spec.ClusterIP
	if vip == "" || svc.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("apiserver allocated ip %q nodePort %d", vip, svc.Spec.Ports[0].NodePort)
	}
	// No endpoints yet: refused at once.
	eventually(t, 10*time.Second, func() error {
		_, _, err := c.Client.Ask("tcp", vip+":80", time.Second)
		if err != netnstest.ErrRefused {
			return fmt.Errorf("before endpoints: %v, want refused", err)
		}
		return nil
	})
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range c.BackendIPs {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	eventually(t, 15*time.Second, func() error {
		name, _, err := c.Client.Ask("tcp", vip+":80", time.Second)
		if err != nil {
			return err
		}
		seen[name] = true
		if len(seen) < 2 {
			return fmt.Errorf("answers so far %v", seen)
		}
		return nil
	})
	np := fmt.Sprintf("%s:%d", c.NodeIP, svc.Spec.Ports[0].NodePort)
	if name, _, err := c.Client.Ask("tcp", np, 2*time.Second); err != nil || !strings.HasPrefix(name, "backend-") {
		t.Fatalf("nodeport %s: %q %v", np, name, err)
	}
	// host-gw route to node-b's pod CIDR.
	eventually(t, 10*time.Second, func() error {
		m, err := routes.New(c.Node.Fd())
		if err != nil {
			return err
		}
		defer m.Close()
		have, err := m.List()
		if err != nil {
			return err
		}
		if len(have) != 1 {
			return fmt.Errorf("routes %v", have)
		}
		return nil
	})
	code, body, err := ts.Get("/metrics")
	if err != nil || code != 200 || !strings.Contains(body, "drover_proxy_sync_duration_seconds") || !strings.Contains(body, "drover_proxy_network_programming_duration_seconds_count") {
		t.Fatalf("metrics %d %v", code, err)
	}
	if code, _, _ := ts.Get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	// Deleting the endpoints brings back the reject.
	if err := cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, _, err := c.Client.Ask("tcp", vip+":80", time.Second)
		if err != netnstest.ErrRefused {
			return fmt.Errorf("after delete: %v, want refused", err)
		}
		return nil
	})
	// Node gone: its route goes too.
	if err := cs.CoreV1().Nodes().Delete(ctx, "node-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		m, err := routes.New(c.Node.Fd())
		if err != nil {
			return err
		}
		defer m.Close()
		have, _ := m.List()
		if len(have) != 0 {
			return fmt.Errorf("stale routes %v", have)
		}
		return nil
	})
}
